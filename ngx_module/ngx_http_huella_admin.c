
/*
 * Administration: service accounts' bearer tokens (GET, POST
 * /api/v1/tokens, DELETE /api/v1/tokens/{id}) and the audit trail (GET
 * /api/v1/audit, POST /api/v1/audit/verify).  Every act names its ACTOR
 * (the caller's CURP or token id) and CLIENT for huellad's audit trail.
 * A revoked token is also dropped from this nginx's token cache at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_TOKEN_NAME_MAX  64
#define NGX_HTTP_HUELLA_TOKEN_ID_MAX    64


static ngx_int_t ngx_http_huella_none_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_list_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_create_token_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_create_token_decode(
    ngx_http_huella_ctx_t *ctx, struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_revoke_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_revoke_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_audit_list_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_verify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_verify_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static json_t *ngx_http_huella_reply_json(struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_tokens_list = {
    HIPC_OP_TOKEN_LIST, ngx_http_huella_none_encode,
    ngx_http_huella_list_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_token_create = {
    HIPC_OP_TOKEN_CREATE, ngx_http_huella_create_token_encode,
    ngx_http_huella_create_token_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_token_revoke = {
    HIPC_OP_TOKEN_REVOKE, ngx_http_huella_revoke_encode,
    ngx_http_huella_revoke_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_audit_list = {
    HIPC_OP_AUDIT_LIST, ngx_http_huella_audit_list_encode,
    ngx_http_huella_list_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_audit_verify = {
    HIPC_OP_AUDIT_VERIFY, ngx_http_huella_none_encode,
    ngx_http_huella_verify_decode, 0, 0, ngx_http_huella_verify_error, 0
};


static ngx_int_t
ngx_http_huella_none_encode(ngx_http_huella_ctx_t *ctx)
{
    return NGX_OK;
}


static json_t *
ngx_http_huella_reply_json(struct hipc_reader *rd)
{
    json_t          *doc;
    uint16_t         tag;
    uint32_t         len;
    const uint8_t   *data;

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_JSON) {
            doc = json_loadb((const char *) data, len, 0, NULL);

            if (doc && !json_is_array(doc)) {
                json_decref(doc);
                return NULL;
            }

            return doc;
        }
    }

    return NULL;
}


/*
 * GET /api/v1/tokens -> {"tokens":[{"id","name","roles","employer_rfc",
 * "created_at"}]}; GET /api/v1/audit -> {"entries":[...]}
 */

static ngx_int_t
ngx_http_huella_list_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char   buf[NGX_HTTP_HUELLA_ISO8601_LEN];
    size_t   i;
    json_t  *list, *t, *o, *v;

    list = ngx_http_huella_reply_json(rd);
    if (list == NULL) {
        return ngx_http_huella_malformed(ctx);
    }

    if (ctx->endpoint == &ngx_http_huella_audit_list) {
        return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
                                         json_pack("{s:o}", "entries", list));
    }

    t = json_array();

    json_array_foreach(list, i, o) {
        v = json_object_get(o, "created");

        (void) ngx_http_huella_iso8601(buf, json_is_integer(v)
                                            ? (time_t) json_integer_value(v)
                                            : 0);

        v = json_object_get(o, "account_rfc");

        json_array_append_new(t,
            json_pack("{s:O,s:O,s:O,s:O,s:s%,s:O}",
                      "id", json_object_get(o, "id"),
                      "name", json_object_get(o, "name"),
                      "roles", json_object_get(o, "roles"),
                      "employer_rfc", v ? v : json_null(),
                      "created_at", buf, sizeof(buf),
                      "created_by", json_object_get(o, "created_by")
                                    ? json_object_get(o, "created_by")
                                    : json_null()));
    }

    json_decref(list);

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
                                     json_pack("{s:o}", "tokens", t));
}


/* POST /api/v1/tokens {"name","roles":[...],"employer_rfc"?} */

static ngx_int_t
ngx_http_huella_create_token_encode(ngx_http_huella_ctx_t *ctx)
{
    u_char      upper[NGX_HTTP_HUELLA_CURP_LEN];
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   name, rfc, list, *actor, *client;

    rc = ngx_http_huella_string(ctx, ctx->body, "name", "name", 1, &name);
    if (rc != NGX_OK) {
        return rc;
    }

    if (name.len == 0 || name.len > NGX_HTTP_HUELLA_TOKEN_NAME_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_name", "name",
                                      "name must be 1 to %d bytes",
                                      NGX_HTTP_HUELLA_TOKEN_NAME_MAX);
    }

    for (i = 0; i < name.len; i++) {
        if (name.data[i] < 0x20 || name.data[i] == 0x7f) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_name", "name",
                                          "name contains a control "
                                          "character");
        }
    }

    /*
     * huella_auth passes a service account's name upstream as Remote-User,
     * where a person's CURP goes: a token named like a CURP would pass for
     * that person
     */

    if (name.len == NGX_HTTP_HUELLA_CURP_LEN) {
        for (i = 0; i < name.len; i++) {
            upper[i] = ngx_toupper(name.data[i]);
        }

        if (ngx_http_huella_curp_check(upper, name.len) == NULL) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_name", "name",
                                          "name cannot be a CURP: it would "
                                          "pass for that person upstream");
        }
    }

    rc = ngx_http_huella_roles_body(ctx, &list);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "employer_rfc",
                                "employer_rfc", 0, &rfc);
    if (rc != NGX_OK) {
        return rc;
    }

    actor = ngx_http_huella_actor(ctx->identity);
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_NAME, name.data, name.len);
    hipc_put(&ctx->writer, HIPC_F_ROLES, list.data, list.len);

    if (rfc.data) {
        hipc_put(&ctx->writer, HIPC_F_ACCOUNT_RFC, rfc.data, rfc.len);
    }

    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_create_token_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    uint16_t        tag;
    uint32_t        len;
    ngx_str_t       token, id;
    const uint8_t  *data;

    ngx_str_null(&token);
    ngx_str_null(&id);

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_TOKEN) {
            token.data = (u_char *) data;
            token.len = len;

        } else if (tag == HIPC_F_TOKEN_ID) {
            id.data = (u_char *) data;
            id.len = len;
        }
    }

    if (token.len == 0 || id.len == 0) {
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED,
                                     json_pack("{s:s%,s:s%}",
                                               "id", id.data, id.len,
                                               "token", token.data,
                                               token.len));
}


/* DELETE /api/v1/tokens/{id} */

static ngx_int_t
ngx_http_huella_revoke_encode(ngx_http_huella_ctx_t *ctx)
{
    size_t      i;
    ngx_str_t  *id, *actor, *client;

    id = &ctx->path_id;

    for (i = 0; i < id->len; i++) {
        if (id->data[i] <= 0x20 || id->data[i] >= 0x7f) {
            break;
        }
    }

    if (id->len > NGX_HTTP_HUELLA_TOKEN_ID_MAX || i < id->len) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_token_id", "id",
                                      "a token id is 1 to %d printable "
                                      "characters",
                                      NGX_HTTP_HUELLA_TOKEN_ID_MAX);
    }

    actor = ngx_http_huella_actor(ctx->identity);
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_TOKEN_ID, id->data, id->len);
    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_revoke_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    (void) ngx_http_huella_token_cache_purge(ctx->request, &ctx->path_id);

    return ngx_http_huella_send_empty(ctx->request, NGX_HTTP_NO_CONTENT);
}


/* GET /api/v1/audit?limit=N */

static ngx_int_t
ngx_http_huella_audit_list_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  n;
    ngx_str_t  value;

    if (ngx_http_arg(ctx->request, (u_char *) "limit", 5, &value) != NGX_OK)
    {
        return NGX_OK;
    }

    n = ngx_atoi(value.data, value.len);

    if (n < 1 || n > 1000) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_limit", "limit",
                                      "limit must be an integer from 1 to "
                                      "1000");
    }

    hipc_put_u32(&ctx->writer, HIPC_F_VALUE, (uint32_t) n);

    return NGX_OK;
}


/* POST /api/v1/audit/verify -> {"ok":true,"entries","head_seq","head_hash"} */

static ngx_int_t
ngx_http_huella_verify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    uint16_t        tag;
    uint32_t        len;
    uint64_t        entries, seq;
    ngx_str_t       hash;
    const uint8_t  *data;

    entries = 0;
    seq = 0;
    ngx_str_null(&hash);

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_VALUE) {
            (void) hipc_get_u64(data, len, &entries);

        } else if (tag == HIPC_F_SEQ) {
            (void) hipc_get_u64(data, len, &seq);

        } else if (tag == HIPC_F_HEAD_HASH) {
            hash.data = (u_char *) data;
            hash.len = len;
        }
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
                                     json_pack("{s:b,s:I,s:I,s:s%}",
                                               "ok", 1,
                                               "entries",
                                               (json_int_t) entries,
                                               "head_seq", (json_int_t) seq,
                                               "head_hash",
                                               hash.data ? (char *) hash.data
                                                         : "",
                                               hash.len));
}


/* 409 naming the first entry not to trust */

static ngx_int_t
ngx_http_huella_verify_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t          *extra;
    uint16_t         tag;
    uint32_t         len;
    uint64_t         seq, entries;
    ngx_str_t        code, message;
    const uint8_t   *data;

    if (ctx->call.status != HIPC_ST_CONFLICT) {
        return NGX_DECLINED;
    }

    seq = 0;
    entries = 0;
    ngx_str_set(&code, "audit_chain_broken");
    ngx_str_set(&message, "the audit trail does not verify");

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_SEQ) {
            (void) hipc_get_u64(data, len, &seq);

        } else if (tag == HIPC_F_VALUE) {
            (void) hipc_get_u64(data, len, &entries);

        } else if (tag == HIPC_F_ERR_CODE && len) {
            code.data = (u_char *) data;
            code.len = len;

        } else if (tag == HIPC_F_MESSAGE && len) {
            message.data = (u_char *) data;
            message.len = len;
        }
    }

    extra = json_pack("{s:b,s:I,s:I}", "ok", 0,
                      "first_bad_seq", (json_int_t) seq,
                      "entries", (json_int_t) entries);

    return ngx_http_huella_send_error_extra(ctx->request, NGX_HTTP_CONFLICT,
                                            &code, &message, NULL, extra);
}
