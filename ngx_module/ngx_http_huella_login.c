
/*
 * Signing in and out: password login (POST /api/v1/session), e.firma
 * challenge and login (POST /api/v1/session/efirma/challenge, .../efirma),
 * the certificate inspector (POST /api/v1/efirma/inspect) and logout
 * (DELETE /api/v1/session).
 *
 * huellad checks the password or the signature and answers the identity;
 * the session is then created in the session zone and its id set in the
 * huella_session cookie.  Logout drops the session from the zone at once
 * (every worker sees it) and tells huellad for the audit trail.  The
 * password is copied into the matcher message only, never logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"


#define NGX_HTTP_HUELLA_USER_MAX      64
#define NGX_HTTP_HUELLA_SECRET_MAX    1024
#define NGX_HTTP_HUELLA_NONCE_MAX     256


static ngx_int_t ngx_http_huella_login_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_logout_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_logout_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_challenge_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_challenge_decode(
    ngx_http_huella_ctx_t *ctx, struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_efirma_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_inspect_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_inspect_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_base64_field(ngx_http_huella_ctx_t *ctx,
    char *key, ngx_uint_t tag);


ngx_http_huella_endpoint_t  ngx_http_huella_login = {
    HIPC_OP_LOGIN_PASSWORD, ngx_http_huella_login_encode,
    ngx_http_huella_start_session, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_logout = {
    HIPC_OP_AUDIT_APPEND, ngx_http_huella_logout_encode,
    ngx_http_huella_logout_decode, 0, 0, NULL, 1
};

ngx_http_huella_endpoint_t  ngx_http_huella_efirma_challenge = {
    HIPC_OP_EFIRMA_CHALLENGE, ngx_http_huella_challenge_encode,
    ngx_http_huella_challenge_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_efirma_login = {
    HIPC_OP_EFIRMA_LOGIN, ngx_http_huella_efirma_encode,
    ngx_http_huella_start_session, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_efirma_inspect = {
    HIPC_OP_EFIRMA_INSPECT, ngx_http_huella_inspect_encode,
    ngx_http_huella_inspect_decode, 1, 0, NULL, 0
};


/* POST /api/v1/session {"user","password"} */

static ngx_int_t
ngx_http_huella_login_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   user, password, *client;

    rc = ngx_http_huella_string(ctx, ctx->body, "user", "user", 1, &user);
    if (rc != NGX_OK) {
        return rc;
    }

    if (user.len == 0 || user.len > NGX_HTTP_HUELLA_USER_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_user", "user",
                                      "user is a CURP, an NSS or a "
                                      "matr\xc3\xad" "cula");
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "password", "password", 1,
                                &password);
    if (rc != NGX_OK) {
        return rc;
    }

    if (password.len == 0 || password.len > NGX_HTTP_HUELLA_SECRET_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_password", "password",
                                      "password must be 1 to %d bytes",
                                      NGX_HTTP_HUELLA_SECRET_MAX);
    }

    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_USER, user.data, user.len);
    hipc_put(&ctx->writer, HIPC_F_PASSWORD, password.data, password.len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


/*
 * A login succeeded: the session, its cookie and 201 {"curp","name",
 * "email","roles","employer_rfc","auth_method","csrf_token","expires_at"}
 */

ngx_int_t
ngx_http_huella_start_session(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char                      *p;
    json_t                      *doc;
    uint16_t                     tag;
    uint32_t                     len;
    uint64_t                     changed;
    ngx_str_t                    cookie;
    ngx_uint_t                   n;
    const uint8_t               *data;
    ngx_http_request_t          *r;
    ngx_http_huella_identity_t  *id;

    r = ctx->request;

    id = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_identity_t));
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_huella_identity_decode(r->pool, ctx->call.reply,
                                        ctx->call.reply_len, id)
        != NGX_OK)
    {
        return ngx_http_huella_malformed(ctx);
    }

    /*
     * sessions opened before huellad's last password change end now: the
     * purge that should have followed it may never have run (its answer
     * lost, or the worker killed before it arrived)
     */

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_PASSWORD_CHANGED
            && hipc_get_u64(data, len, &changed) == 0 && changed)
        {
            id->password_changed = changed;

            n = ngx_http_huella_session_purge_before(r,
                                            &id->f[NGX_HTTP_HUELLA_ID_CURP],
                                            changed);
            if (n) {
                ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                              "huella: %ui sessions opened before the "
                              "account's last password change ended", n);
            }
        }
    }

    if (ngx_http_huella_session_create(r, id, &cookie) != NGX_OK) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "session_unavailable", NULL,
                                      "no session can be opened now, "
                                      "retry shortly");
    }

    if (ngx_http_huella_set_cookie(r, &cookie) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->identity = id;

    doc = ngx_http_huella_identity_json(id);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_HUELLA_ISO8601_LEN);
    if (p == NULL) {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    (void) ngx_http_huella_iso8601(p, id->expires);

    json_object_set_new(doc, "csrf_token",
                        json_stringn((char *) id->f[NGX_HTTP_HUELLA_ID_CSRF]
                                     .data,
                                     id->f[NGX_HTTP_HUELLA_ID_CSRF].len));
    json_object_set_new(doc, "expires_at",
                        json_stringn((char *) p,
                                     NGX_HTTP_HUELLA_ISO8601_LEN));

    return ngx_http_huella_send_json(r, NGX_HTTP_CREATED, doc);
}


/* DELETE /api/v1/session: revoked here, then recorded by huellad */

static ngx_int_t
ngx_http_huella_logout_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_http_huella_session_delete(ctx->request, ctx->identity->key);

    return ngx_http_huella_audit(ctx, "logout",
                                 &ctx->identity->f[NGX_HTTP_HUELLA_ID_CURP]);
}


static ngx_int_t
ngx_http_huella_logout_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_str_t  empty = ngx_null_string;

    if (ngx_http_huella_set_cookie(ctx->request, &empty) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_huella_send_empty(ctx->request, NGX_HTTP_NO_CONTENT);
}


/* POST /api/v1/session/efirma/challenge -> 201 {"nonce","expires_at"} */

static ngx_int_t
ngx_http_huella_challenge_encode(ngx_http_huella_ctx_t *ctx)
{
    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_challenge_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char          p[NGX_HTTP_HUELLA_ISO8601_LEN];
    uint16_t        tag;
    uint32_t        len;
    uint64_t        expires;
    ngx_str_t       nonce;
    const uint8_t  *data;

    ngx_str_null(&nonce);
    expires = 0;

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        if (tag == HIPC_F_NONCE) {
            nonce.data = (u_char *) data;
            nonce.len = len;

        } else if (tag == HIPC_F_EXPIRES) {
            (void) hipc_get_u64(data, len, &expires);
        }
    }

    if (nonce.len == 0 || nonce.len > NGX_HTTP_HUELLA_NONCE_MAX
        || expires == 0)
    {
        return ngx_http_huella_malformed(ctx);
    }

    (void) ngx_http_huella_iso8601(p, (time_t) expires);

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED,
                                     json_pack("{s:s%,s:s%}",
                                               "nonce", nonce.data,
                                               nonce.len,
                                               "expires_at", p,
                                               sizeof(p)));
}


/* POST /api/v1/session/efirma {"certificate","signature","nonce"} */

static ngx_int_t
ngx_http_huella_efirma_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   nonce, *client;

    rc = ngx_http_huella_base64_field(ctx, "certificate", HIPC_F_CERT);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_base64_field(ctx, "signature", HIPC_F_SIGNATURE);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "nonce", "nonce", 1, &nonce);
    if (rc != NGX_OK) {
        return rc;
    }

    if (nonce.len == 0 || nonce.len > NGX_HTTP_HUELLA_NONCE_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "nonce_invalid", "nonce",
                                      "nonce is the value of "
                                      "POST /api/v1/session/efirma/"
                                      "challenge");
    }

    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_NONCE, nonce.data, nonce.len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


/* POST /api/v1/efirma/inspect {"certificate"} */

static ngx_int_t
ngx_http_huella_inspect_encode(ngx_http_huella_ctx_t *ctx)
{
    return ngx_http_huella_base64_field(ctx, "certificate", HIPC_F_CERT);
}


static ngx_int_t
ngx_http_huella_inspect_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t          *doc;
    uint16_t         tag;
    uint32_t         len;
    const uint8_t   *data;

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        if (tag != HIPC_F_JSON) {
            continue;
        }

        doc = json_loadb((const char *) data, len, 0, NULL);

        if (doc == NULL || !json_is_object(doc)) {
            json_decref(doc);
            break;
        }

        return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
    }

    return ngx_http_huella_malformed(ctx);
}


static ngx_int_t
ngx_http_huella_base64_field(ngx_http_huella_ctx_t *ctx, char *key,
    ngx_uint_t tag)
{
    ngx_int_t  rc;
    ngx_str_t  value, decoded, err;

    rc = ngx_http_huella_string(ctx, ctx->body, key, key, 1, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_base64_decode(ctx->request->pool, &value, &decoded,
                                       &err);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_base64", key, "%V", &err);
    }

    hipc_put(&ctx->writer, tag, decoded.data, decoded.len);

    return NGX_OK;
}
