
/*
 * Capture devices (issue 5, docs/devices.md): registration by an
 * employer_rep for its own RFC or by an admin for any employer (POST
 * /api/v1/devices), the list (GET /api/v1/devices), suspension,
 * reactivation and revocation (POST /api/v1/devices/{id}/suspend,
 * /reactivate, /revoke); receipts (GET /api/v1/receipts/{folio}) and the
 * receipts' public keys (GET /.well-known/jwks.json, no identity needed).
 * huellad parses the keys, keeps the devices and signs the receipts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_devices.h"


#define NGX_HTTP_HUELLA_DEVICE_TEXT_MAX  128
#define NGX_HTTP_HUELLA_PEM_MAX          4096


static ngx_int_t ngx_http_huella_register_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_register_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_devices_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_devices_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_status_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_status_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_receipt_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_receipt_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_jwks_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_jwks_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_device_register = {
    HIPC_OP_DEVICE_REGISTER, ngx_http_huella_register_encode,
    ngx_http_huella_register_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_devices_list = {
    HIPC_OP_DEVICE_LIST, ngx_http_huella_devices_encode,
    ngx_http_huella_devices_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_device_suspend = {
    HIPC_OP_DEVICE_SET_STATUS, ngx_http_huella_status_encode,
    ngx_http_huella_status_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_device_reactivate = {
    HIPC_OP_DEVICE_SET_STATUS, ngx_http_huella_status_encode,
    ngx_http_huella_status_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_device_revoke = {
    HIPC_OP_DEVICE_SET_STATUS, ngx_http_huella_status_encode,
    ngx_http_huella_status_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_receipt_get = {
    HIPC_OP_RECEIPT_GET, ngx_http_huella_receipt_encode,
    ngx_http_huella_receipt_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_jwks = {
    HIPC_OP_JWKS, ngx_http_huella_jwks_encode,
    ngx_http_huella_jwks_decode, 0, 0, NULL, 0
};


/* helpers shared with ngx_http_huella_enroll.c */

ngx_int_t
ngx_http_huella_employer(ngx_http_huella_ctx_t *ctx, ngx_uint_t required,
    ngx_str_t *rfc, ngx_uint_t *admin)
{
    u_char                      *p;
    size_t                       i;
    ngx_int_t                    rc;
    ngx_str_t                    body, *own;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;
    own = &id->f[NGX_HTTP_HUELLA_ID_RFC];

    ngx_str_null(&body);

    if (ctx->body) {
        rc = ngx_http_huella_string(ctx, ctx->body, "employer_rfc",
                                    "employer_rfc", 0, &body);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (body.len > NGX_HTTP_HUELLA_RFC_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_rfc", "employer_rfc",
                                      "an RFC has 12 or 13 characters");
    }

    if (body.len) {
        p = ngx_pnalloc(ctx->request->pool, body.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < body.len; i++) {
            p[i] = ngx_toupper(body.data[i]);
        }

        body.data = p;
    }

    *admin = 0;

    if ((id->roles & NGX_HTTP_HUELLA_ADMIN)
        && (body.len || !(id->roles & NGX_HTTP_HUELLA_EMPLOYER_REP)
            || own->len == 0))
    {
        *admin = 1;

        if (body.len == 0 && required) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                          "missing_field", "employer_rfc",
                                          "an admin acting for an employer "
                                          "names it in \"employer_rfc\"");
        }

        *rfc = body;

        return NGX_OK;
    }

    if (own->len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "no_employer", NULL,
                                      "this account is not bound to an "
                                      "employer's RFC");
    }

    if (body.len
        && (body.len != own->len
            || ngx_strncasecmp(body.data, own->data, own->len) != 0))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "not_your_employer", "employer_rfc",
                                      "an employer representative acts for "
                                      "its own RFC only");
    }

    *rfc = *own;

    return NGX_OK;
}


void
ngx_http_huella_put_actor(ngx_http_huella_ctx_t *ctx)
{
    ngx_str_t  *actor, *client;

    actor = ngx_http_huella_actor(ctx->identity);
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);
}


void
ngx_http_huella_reply_str(struct hipc_reader *rd, uint16_t tag,
    ngx_str_t *out)
{
    uint16_t        t;
    uint32_t        len;
    const uint8_t  *data;

    ngx_str_set(out, "");

    hipc_reader_init(rd, rd->buf, rd->len);

    while (hipc_next(rd, &t, &data, &len) == 1) {
        if (t == tag) {
            out->data = (u_char *) data;
            out->len = len;
            return;
        }
    }
}


json_t *
ngx_http_huella_reply_doc(struct hipc_reader *rd)
{
    ngx_str_t  s;

    ngx_http_huella_reply_str(rd, HIPC_F_JSON, &s);

    if (s.len == 0) {
        return NULL;
    }

    return json_loadb((char *) s.data, s.len, 0, NULL);
}


ngx_int_t
ngx_http_huella_path_token(ngx_http_huella_ctx_t *ctx, char *field)
{
    u_char      c;
    ngx_uint_t  i;

    if (ctx->path_id.len == 0 || ctx->path_id.len > 64) {
        goto invalid;
    }

    for (i = 0; i < ctx->path_id.len; i++) {
        c = ctx->path_id.data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            goto invalid;
        }
    }

    return NGX_OK;

invalid:

    return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                  "invalid_id", field,
                                  "\"%s\" in the path is malformed", field);
}


ngx_int_t
ngx_http_huella_query_arg(ngx_http_huella_ctx_t *ctx, char *name,
    ngx_str_t *value)
{
    u_char              *dst, *src;
    ngx_str_t            raw;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DONE;
    }

    value->data = ngx_pnalloc(r->pool, raw.len + 1);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    dst = value->data;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return NGX_OK;
}


/*
 * POST /api/v1/devices {"employer_rfc","public_key_pem","make","model",
 * "serial","purpose"} -> 201 {"device_id","employer_rfc","purpose",
 * "key_alg","folio","receipt"}
 */

static ngx_int_t
ngx_http_huella_register_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t    rc;
    ngx_str_t    rfc, v;
    ngx_uint_t   i, admin;

    static struct {
        char      *key;
        uint16_t   tag;
        size_t     max;
    } fields[] = {
        { "public_key_pem", HIPC_F_PUBLIC_KEY, NGX_HTTP_HUELLA_PEM_MAX },
        { "make", HIPC_F_MAKE, NGX_HTTP_HUELLA_DEVICE_TEXT_MAX },
        { "model", HIPC_F_MODEL, NGX_HTTP_HUELLA_DEVICE_TEXT_MAX },
        { "serial", HIPC_F_SERIAL, NGX_HTTP_HUELLA_DEVICE_TEXT_MAX },
        { "purpose", HIPC_F_PURPOSE, 16 },
        { NULL, 0, 0 }
    };

    rc = ngx_http_huella_employer(ctx, 1, &rfc, &admin);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_RFC, rfc.data, rfc.len);

    for (i = 0; fields[i].key; i++) {
        rc = ngx_http_huella_string(ctx, ctx->body, fields[i].key,
                                    fields[i].key, 1, &v);
        if (rc != NGX_OK) {
            return rc;
        }

        if (v.len == 0 || v.len > fields[i].max) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_value", fields[i].key,
                                          "\"%s\" must be 1 to %uz bytes",
                                          fields[i].key, fields[i].max);
        }

        if (fields[i].tag == HIPC_F_PURPOSE
            && !(v.len == 10 && ngx_strncmp(v.data, "enrollment", 10) == 0)
            && !(v.len == 5 && ngx_strncmp(v.data, "kiosk", 5) == 0))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_purpose", "purpose",
                                          "purpose must be \"enrollment\" "
                                          "or \"kiosk\"");
        }

        hipc_put(&ctx->writer, fields[i].tag, v.data, v.len);
    }

    ngx_http_huella_put_actor(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_register_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_str_t  id, alg, purpose, folio, receipt, rfc;

    ngx_http_huella_reply_str(rd, HIPC_F_DEVICE_ID, &id);
    ngx_http_huella_reply_str(rd, HIPC_F_KEY_ALG, &alg);
    ngx_http_huella_reply_str(rd, HIPC_F_PURPOSE, &purpose);
    ngx_http_huella_reply_str(rd, HIPC_F_FOLIO, &folio);
    ngx_http_huella_reply_str(rd, HIPC_F_RECEIPT, &receipt);
    ngx_http_huella_reply_str(rd, HIPC_F_RFC, &rfc);

    if (id.len == 0) {
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED,
               json_pack("{s:s%,s:s%,s:s%,s:s%,s:s%,s:s%}",
                         "device_id", id.data, id.len,
                         "key_alg", alg.data, alg.len,
                         "purpose", purpose.data, purpose.len,
                         "employer_rfc", rfc.data, rfc.len,
                         "folio", folio.data, folio.len,
                         "receipt", receipt.data, receipt.len));
}


/* GET /api/v1/devices[?employer_rfc=] -> {"devices":[...]} */

static ngx_int_t
ngx_http_huella_devices_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t                    rc;
    ngx_str_t                    rfc;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;

    if (id->roles & NGX_HTTP_HUELLA_ADMIN) {
        rc = ngx_http_huella_query_arg(ctx, "employer_rfc", &rfc);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK && rfc.len) {
            hipc_put(&ctx->writer, HIPC_F_RFC, rfc.data, rfc.len);
        }

        return NGX_OK;
    }

    rfc = id->f[NGX_HTTP_HUELLA_ID_RFC];

    if (rfc.len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "no_employer", NULL,
                                      "this account is not bound to an "
                                      "employer's RFC");
    }

    hipc_put(&ctx->writer, HIPC_F_RFC, rfc.data, rfc.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_devices_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t  *list;

    list = ngx_http_huella_reply_doc(rd);

    if (list == NULL || !json_is_array(list)) {
        json_decref(list);
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
                                     json_pack("{s:o}", "devices", list));
}


/* POST /api/v1/devices/{id}/suspend|reactivate|revoke */

static ngx_int_t
ngx_http_huella_status_encode(ngx_http_huella_ctx_t *ctx)
{
    char                        *state;
    ngx_int_t                    rc;
    ngx_http_huella_identity_t  *id;

    rc = ngx_http_huella_path_token(ctx, "device_id");
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->endpoint == &ngx_http_huella_device_suspend) {
        state = "suspended";

    } else if (ctx->endpoint == &ngx_http_huella_device_revoke) {
        state = "revoked";

    } else {
        state = "active";
    }

    hipc_put(&ctx->writer, HIPC_F_DEVICE_ID, ctx->path_id.data,
             ctx->path_id.len);
    hipc_put_str(&ctx->writer, HIPC_F_STATE, state);

    id = ctx->identity;

    if (!(id->roles & NGX_HTTP_HUELLA_ADMIN)) {

        /* the owner acting: huellad refuses another employer's device */

        if (id->f[NGX_HTTP_HUELLA_ID_RFC].len == 0) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                          "no_employer", NULL,
                                          "this account is not bound to an "
                                          "employer's RFC");
        }

        hipc_put(&ctx->writer, HIPC_F_RFC, id->f[NGX_HTTP_HUELLA_ID_RFC].data,
                 id->f[NGX_HTTP_HUELLA_ID_RFC].len);
    }

    ngx_http_huella_put_actor(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_status_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_str_t  id, state;

    ngx_http_huella_reply_str(rd, HIPC_F_DEVICE_ID, &id);
    ngx_http_huella_reply_str(rd, HIPC_F_STATE, &state);

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
               json_pack("{s:s%,s:s%}", "device_id", id.data, id.len,
                         "status", state.data, state.len));
}


/*
 * GET /api/v1/receipts/{folio} -> {"folio","receipt","payload"}: admins
 * and auditors any, an employer_rep its employer's, anyone their own
 */

static ngx_int_t
ngx_http_huella_receipt_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_huella_path_token(ctx, "folio");
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_FOLIO, ctx->path_id.data,
             ctx->path_id.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_receipt_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t                      *payload;
    ngx_str_t                    folio, receipt, rfc, curp, *own;
    ngx_uint_t                   allowed;
    ngx_http_huella_identity_t  *id;

    ngx_http_huella_reply_str(rd, HIPC_F_FOLIO, &folio);
    ngx_http_huella_reply_str(rd, HIPC_F_RECEIPT, &receipt);
    ngx_http_huella_reply_str(rd, HIPC_F_RFC, &rfc);
    ngx_http_huella_reply_str(rd, HIPC_F_CURP, &curp);

    id = ctx->identity;
    allowed = id->roles & (NGX_HTTP_HUELLA_ADMIN|NGX_HTTP_HUELLA_AUDITOR);

    own = &id->f[NGX_HTTP_HUELLA_ID_RFC];

    if (!allowed && (id->roles & NGX_HTTP_HUELLA_EMPLOYER_REP)
        && own->len && own->len == rfc.len
        && ngx_strncmp(own->data, rfc.data, rfc.len) == 0)
    {
        allowed = 1;
    }

    own = &id->f[NGX_HTTP_HUELLA_ID_CURP];

    if (!allowed && own->len && own->len == curp.len
        && ngx_strncmp(own->data, curp.data, curp.len) == 0)
    {
        allowed = 1;
    }

    if (!allowed) {

        /* as if it did not exist: folios are guessable */

        return ngx_http_huella_reject(ctx, NGX_HTTP_NOT_FOUND,
                                      "receipt_not_found", "folio",
                                      "no receipt with folio \"%V\"",
                                      &ctx->path_id);
    }

    payload = ngx_http_huella_reply_doc(rd);

    if (receipt.len == 0 || payload == NULL) {
        json_decref(payload);
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
               json_pack("{s:s%,s:s%,s:o}",
                         "folio", folio.data, folio.len,
                         "receipt", receipt.data, receipt.len,
                         "payload", payload));
}


/* GET /.well-known/jwks.json: the JWK set as huellad publishes it */

static ngx_int_t
ngx_http_huella_jwks_encode(ngx_http_huella_ctx_t *ctx)
{
    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_jwks_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t                      *doc;
    static ngx_str_t             cache = ngx_string("public, max-age=300");

    doc = ngx_http_huella_reply_doc(rd);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    if (ngx_http_huella_add_header(ctx->request, "Cache-Control", &cache)
        != NGX_OK)
    {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}
