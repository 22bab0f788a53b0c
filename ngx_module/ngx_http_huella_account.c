
/*
 * Accounts: self-registration (POST /api/v1/accounts), the caller's own
 * identity (GET /api/v1/me), password change (PUT /api/v1/me/password),
 * recovery (POST /api/v1/recovery, /api/v1/recovery/finish) and an admin
 * setting roles (PUT /api/v1/accounts/{curp}/roles) or lifting a lockout
 * (POST /api/v1/accounts/{curp}/unlock).
 *
 * The fields are checked here for shape (422 naming the field); the
 * password rules, the registry cross-check and the hashing are huellad's.
 * Passwords and security answers go into the matcher message only and are
 * never logged.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_EMAIL_MAX     254
#define NGX_HTTP_HUELLA_TEXT_MAX      200
#define NGX_HTTP_HUELLA_PASSWORD_MAX  1024
#define NGX_HTTP_HUELLA_USER_MAX      64
#define NGX_HTTP_HUELLA_RTOKEN_MAX    256


static ngx_int_t ngx_http_huella_create_account_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_account_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_me_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_me_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_password_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_no_content(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_password_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_finish_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_recovery_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_recovery_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_finish_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_finish_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_roles_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_roles_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_password_suspend(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_roles_suspend(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_suspend(ngx_http_huella_ctx_t *ctx,
    ngx_str_t *curp, u_char *keep);
static ngx_int_t ngx_http_huella_unlock_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_text(ngx_http_huella_ctx_t *ctx,
    char *key, ngx_uint_t required, size_t min, size_t max, char *code,
    ngx_uint_t tag);


ngx_http_huella_endpoint_t  ngx_http_huella_account_create = {
    HIPC_OP_ACCOUNT_CREATE, ngx_http_huella_create_account_encode,
    ngx_http_huella_account_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_me = {
    0, ngx_http_huella_me_encode, ngx_http_huella_me_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_password_change = {
    HIPC_OP_PASSWORD_CHANGE, ngx_http_huella_password_encode,
    ngx_http_huella_password_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_recovery_start = {
    HIPC_OP_RECOVERY_START, ngx_http_huella_recovery_encode,
    ngx_http_huella_recovery_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_recovery_finish = {
    HIPC_OP_RECOVERY_FINISH, ngx_http_huella_finish_encode,
    ngx_http_huella_finish_decode, 1, 0, ngx_http_huella_finish_error, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_roles_set = {
    HIPC_OP_ROLES_SET, ngx_http_huella_roles_encode,
    ngx_http_huella_roles_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_account_unlock = {
    HIPC_OP_ACCOUNT_UNLOCK, ngx_http_huella_unlock_encode,
    ngx_http_huella_no_content, 0, 0, NULL, 0
};


/*
 * A string field of at most max bytes without control characters, put in
 * the message under tag; min 0 allows it empty.
 */

static ngx_int_t
ngx_http_huella_text(ngx_http_huella_ctx_t *ctx, char *key,
    ngx_uint_t required, size_t min, size_t max, char *code, ngx_uint_t tag)
{
    size_t     i;
    ngx_int_t  rc;
    ngx_str_t  v;

    rc = ngx_http_huella_string(ctx, ctx->body, key, key, required, &v);
    if (rc != NGX_OK) {
        return rc;
    }

    if (v.data == NULL) {
        return NGX_OK;
    }

    if (v.len < min || v.len > max) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      code, key, "%s must be %uz to %uz "
                                      "bytes", key, min, max);
    }

    for (i = 0; i < v.len; i++) {
        if (v.data[i] < 0x20 || v.data[i] == 0x7f) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          code, key, "%s contains a "
                                          "control character", key);
        }
    }

    hipc_put(&ctx->writer, tag, v.data, v.len);

    return NGX_OK;
}


/* POST /api/v1/accounts */

static ngx_int_t
ngx_http_huella_create_account_encode(ngx_http_huella_ctx_t *ctx)
{
    char       *rule;
    u_char     *at, *p, *last;
    ngx_int_t   rc;
    ngx_str_t   nss, email, *client;

    rc = ngx_http_huella_body_curp(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);

    rc = ngx_http_huella_string(ctx, ctx->body, "nss", "nss", 1, &nss);
    if (rc != NGX_OK) {
        return rc;
    }

    rule = ngx_http_huella_nss_check(nss.data, nss.len);

    if (rule) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_nss", "nss", "%s", rule);
    }

    hipc_put(&ctx->writer, HIPC_F_NSS, nss.data, nss.len);

    rc = ngx_http_huella_string(ctx, ctx->body, "email", "email", 1,
                                &email);
    if (rc != NGX_OK) {
        return rc;
    }

    /* one "@", a local part, a dotted domain, no spaces or controls */

    p = email.data;
    last = p + email.len;
    at = ngx_strlchr(p, last, '@');

    if (email.len > NGX_HTTP_HUELLA_EMAIL_MAX || at == NULL || at == p
        || ngx_strlchr(at + 1, last, '@') != NULL
        || ngx_strlchr(at + 1, last, '.') == NULL
        || last[-1] == '.' || at[1] == '.')
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_email", "email",
                                      "email must be an address like "
                                      "name@example.mx");
    }

    for ( /* void */ ; p < last; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_email", "email",
                                          "email must not contain spaces "
                                          "or control characters");
        }
    }

    hipc_put(&ctx->writer, HIPC_F_EMAIL, email.data, email.len);

    rc = ngx_http_huella_text(ctx, "password", 1, 1,
                              NGX_HTTP_HUELLA_PASSWORD_MAX,
                              "password_too_long", HIPC_F_PASSWORD);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_text(ctx, "security_question", 1, 3,
                              NGX_HTTP_HUELLA_TEXT_MAX, "invalid_question",
                              HIPC_F_QUESTION);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_text(ctx, "security_answer", 1, 2,
                              NGX_HTTP_HUELLA_TEXT_MAX, "invalid_answer",
                              HIPC_F_ANSWER);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_text(ctx, "matricula", 0, 1, 20,
                              "invalid_matricula", HIPC_F_MATRICULA);
    if (rc != NGX_OK) {
        return rc;
    }

    client = ngx_http_huella_client(ctx->request);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


/* the account an op answers: {"curp","name","email","roles",...} */

static ngx_int_t
ngx_http_huella_account_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t                      *doc;
    ngx_http_huella_identity_t   id;

    if (ngx_http_huella_identity_decode(ctx->request->pool, ctx->call.reply,
                                        ctx->call.reply_len, &id)
        != NGX_OK)
    {
        return ngx_http_huella_malformed(ctx);
    }

    doc = ngx_http_huella_identity_json(&id);

    if (doc) {
        json_object_del(doc, "auth_method");
    }

    return ngx_http_huella_send_json(ctx->request,
                                     ctx->endpoint->op
                                     == HIPC_OP_ACCOUNT_CREATE
                                     ? NGX_HTTP_CREATED : NGX_HTTP_OK, doc);
}


/* GET /api/v1/me, answered from the session or the token's identity */

static ngx_int_t
ngx_http_huella_me_encode(ngx_http_huella_ctx_t *ctx)
{
    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_me_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t                      *doc;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;

    doc = ngx_http_huella_identity_json(id);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(doc, "csrf_token",
                        id->session
                        ? json_stringn((char *)
                                       id->f[NGX_HTTP_HUELLA_ID_CSRF].data,
                                       id->f[NGX_HTTP_HUELLA_ID_CSRF].len)
                        : json_null());

    if (!id->session) {
        json_object_set_new(doc, "token_id",
                            json_stringn((char *)
                                  id->f[NGX_HTTP_HUELLA_ID_TOKEN_ID].data,
                                  id->f[NGX_HTTP_HUELLA_ID_TOKEN_ID].len));
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}


/* PUT /api/v1/me/password {"current_password","new_password"} */

static ngx_int_t
ngx_http_huella_password_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t  *curp, *client;

    curp = &ctx->identity->f[NGX_HTTP_HUELLA_ID_CURP];

    if (curp->len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "forbidden", NULL, "this session has "
                                      "no password account");
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, curp->data, curp->len);

    rc = ngx_http_huella_text(ctx, "current_password", 1, 1,
                              NGX_HTTP_HUELLA_PASSWORD_MAX,
                              "invalid_password", HIPC_F_PASSWORD);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_text(ctx, "new_password", 1, 1,
                              NGX_HTTP_HUELLA_PASSWORD_MAX,
                              "password_too_long", HIPC_F_NEW_PASSWORD);
    if (rc != NGX_OK) {
        return rc;
    }

    client = ngx_http_huella_client(ctx->request);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return ngx_http_huella_password_suspend(ctx);
}


static ngx_int_t
ngx_http_huella_no_content(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    return ngx_http_huella_send_empty(ctx->request, NGX_HTTP_NO_CONTENT);
}


/*
 * A new password ends the account's other sessions: one opened by whoever
 * knew the old password must not outlive it.  They are suspended while
 * huellad works (an answer lost after its commit must not leave them
 * valid); the session that changed it goes on, proven anew.
 */

static ngx_int_t
ngx_http_huella_password_suspend(ngx_http_huella_ctx_t *ctx)
{
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;

    return ngx_http_huella_suspend(ctx, &id->f[NGX_HTTP_HUELLA_ID_CURP],
                                   id->session ? id->key : NULL);
}


static ngx_int_t
ngx_http_huella_password_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    uint16_t                     tag;
    uint32_t                     len;
    uint64_t                     changed;
    const uint8_t               *data;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;
    changed = 0;

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_PASSWORD_CHANGED
            && hipc_get_u64(data, len, &changed) != 0)
        {
            return ngx_http_huella_malformed(ctx);
        }
    }

    (void) ngx_http_huella_session_purge_curp(ctx->request,
                                              &id->f[NGX_HTTP_HUELLA_ID_CURP],
                                              id->session ? id->key : NULL);

    if (id->session) {
        ngx_http_huella_session_proven(ctx->request, id->key, changed);
    }

    return ngx_http_huella_send_empty(ctx->request, NGX_HTTP_NO_CONTENT);
}


static ngx_int_t
ngx_http_huella_suspend(ngx_http_huella_ctx_t *ctx, ngx_str_t *curp,
    u_char *keep)
{
    ngx_uint_t  failed;

    ctx->suspension = ngx_http_huella_session_suspend(ctx->request, curp,
                                                      keep, &failed);

    return failed ? NGX_ERROR : NGX_OK;
}


/* a recovered account's sessions all end (huellad names the CURP) */

static ngx_int_t
ngx_http_huella_finish_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    uint16_t        tag;
    uint32_t        len;
    ngx_str_t       curp;
    const uint8_t  *data;

    ngx_str_null(&curp);

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_CURP) {
            curp.data = (u_char *) data;
            curp.len = len;
        }
    }

    if (curp.len == 0) {
        return ngx_http_huella_malformed(ctx);
    }

    (void) ngx_http_huella_session_purge_curp(ctx->request, &curp, NULL);

    return ngx_http_huella_send_empty(ctx->request, NGX_HTTP_NO_CONTENT);
}


/* POST /api/v1/recovery {"user"} -> {"question"}; {"user","answer"} */

static ngx_int_t
ngx_http_huella_recovery_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t  *client;

    rc = ngx_http_huella_text(ctx, "user", 1, 1, NGX_HTTP_HUELLA_USER_MAX,
                              "invalid_user", HIPC_F_USER);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_text(ctx, "answer", 0, 1, NGX_HTTP_HUELLA_TEXT_MAX,
                              "invalid_answer", HIPC_F_ANSWER);
    if (rc != NGX_OK) {
        return rc;
    }

    client = ngx_http_huella_client(ctx->request);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_recovery_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    uint16_t        tag;
    uint32_t        len;
    const uint8_t  *data;

    if (json_object_get(ctx->body, "answer") != NULL
        && !json_is_null(json_object_get(ctx->body, "answer")))
    {
        return ngx_http_huella_send_json(ctx->request, NGX_HTTP_ACCEPTED,
                                         json_pack("{s:b}", "sent", 1));
    }

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_QUESTION) {
            return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
                                             json_pack("{s:s%}", "question",
                                                       data, (size_t) len));
        }
    }

    return ngx_http_huella_malformed(ctx);
}


/* POST /api/v1/recovery/finish {"token","new_password"} */

static ngx_int_t
ngx_http_huella_finish_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t  *client;

    rc = ngx_http_huella_text(ctx, "token", 1, 1, NGX_HTTP_HUELLA_RTOKEN_MAX,
                              "token_invalid", HIPC_F_TOKEN);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_text(ctx, "new_password", 1, 1,
                              NGX_HTTP_HUELLA_PASSWORD_MAX,
                              "password_too_long", HIPC_F_NEW_PASSWORD);
    if (rc != NGX_OK) {
        return rc;
    }

    client = ngx_http_huella_client(ctx->request);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


/* a used, expired or unknown recovery link: 422 token_invalid */

static ngx_int_t
ngx_http_huella_finish_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_str_t  code, message, field;

    if (ctx->call.status != HIPC_ST_UNAUTHORIZED) {
        return NGX_DECLINED;
    }

    ngx_str_set(&code, "token_invalid");
    ngx_str_set(&message, "the recovery link is invalid, used or expired; "
                          "ask for a new one");
    ngx_str_set(&field, "token");

    return ngx_http_huella_send_error(ctx->request,
                                      NGX_HTTP_UNPROCESSABLE_ENTITY, &code,
                                      &message, &field);
}


/* PUT /api/v1/accounts/{curp}/roles {"roles":[...],"employer_rfc"?} */

static ngx_int_t
ngx_http_huella_roles_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_str_t  *actor, *client, rfc, list;
    ngx_int_t   rc;

    rc = ngx_http_huella_roles_body(ctx, &list);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    hipc_put(&ctx->writer, HIPC_F_ROLES, list.data, list.len);

    rc = ngx_http_huella_string(ctx, ctx->body, "employer_rfc",
                                "employer_rfc", 0, &rfc);
    if (rc != NGX_OK) {
        return rc;
    }

    if (rfc.data) {
        hipc_put(&ctx->writer, HIPC_F_ACCOUNT_RFC, rfc.data, rfc.len);
    }

    actor = ngx_http_huella_actor(ctx->identity);
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return ngx_http_huella_roles_suspend(ctx);
}


/* the target's sessions, suspended while huellad works */

static ngx_int_t
ngx_http_huella_roles_suspend(ngx_http_huella_ctx_t *ctx)
{
    return ngx_http_huella_suspend(ctx, &ctx->curp, NULL);
}


static ngx_int_t
ngx_http_huella_roles_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    /* the account's sessions carry the old roles: they end now */

    (void) ngx_http_huella_session_purge_curp(ctx->request, &ctx->curp,
                                              NULL);

    return ngx_http_huella_account_decode(ctx, rd);
}


/*
 * POST /api/v1/accounts/{curp}/unlock: clears the failure count of an
 * account locked out or disabled by failed logins (audited by huellad)
 */

static ngx_int_t
ngx_http_huella_unlock_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_str_t  *actor, *client;

    actor = ngx_http_huella_actor(ctx->identity);
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}
