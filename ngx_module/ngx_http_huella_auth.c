
/*
 * Who is calling, and may they.
 *
 * An identity comes from, in this order: the Authorization header (the
 * admin bootstrap token of "huella_admin_token_file", compared in constant
 * time, is the role admin; any other bearer token is asked of huellad with
 * TOKEN_CHECK, the request suspended meanwhile, and a positive answer
 * cached in the session zone for "huella_token_cache" seconds), else the
 * huella_session cookie (ngx_http_huella_session.c).
 *
 * ngx_http_huella_authorize() applies a route's line of the routing table
 * (ngx_http_huella_route.c): 401 without an identity, 403 "forbidden" for a
 * role not listed, 403 "session_required" for a token on a session-only
 * route, and 403 "csrf_token_invalid" for an unsafe method of a cookie
 * session without the session's X-CSRF-Token.
 *
 * "huella_auth on" runs in the access phase of any location (proxy_pass
 * ones included): the request passes only with an identity, the client's
 * own Remote-User, Remote-Name, Remote-Groups and Remote-Email headers are
 * removed and the identity's put in their place, for the upstream.
 * Without an identity, HTML requests are redirected to /login.html with a
 * local return path, others get 401 JSON.  GET /api/v1/auth answers the
 * same question for nginx's auth_request: 204 with the Remote-* headers,
 * or 401.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"


static ngx_int_t ngx_http_huella_bearer(ngx_http_request_t *r,
    ngx_str_t *token, char **why);
static ngx_http_huella_identity_t *ngx_http_huella_admin_identity(
    ngx_http_request_t *r);
static void ngx_http_huella_token_checked(ngx_http_huella_call_t *call);
static ngx_int_t ngx_http_huella_csrf(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_access_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_huella_deny(ngx_http_request_t *r,
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_remote_headers(ngx_http_request_t *r,
    ngx_http_huella_identity_t *id);
static ngx_int_t ngx_http_huella_auth_check_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_auth_check_decode(
    ngx_http_huella_ctx_t *ctx, struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_auth_check = {
    0, ngx_http_huella_auth_check_encode, ngx_http_huella_auth_check_decode,
    0, 0, NULL, 0
};


static struct {
    char                      *name;
    ngx_uint_t                 bit;
} ngx_http_huella_role_names[] = {
    { "worker", NGX_HTTP_HUELLA_WORKER },
    { "supervisor", NGX_HTTP_HUELLA_SUPERVISOR },
    { "employer_rep", NGX_HTTP_HUELLA_EMPLOYER_REP },
    { "pensioner", NGX_HTTP_HUELLA_PENSIONER },
    { "auditor", NGX_HTTP_HUELLA_AUDITOR },
    { "admin", NGX_HTTP_HUELLA_ADMIN },
    { NULL, 0 }
};


static char  *ngx_http_huella_remote[] = {
    "Remote-User", "Remote-Name", "Remote-Groups", "Remote-Email", NULL
};


ngx_uint_t
ngx_http_huella_roles_parse(u_char *p, size_t len)
{
    u_char      *last, *comma;
    size_t       n;
    ngx_uint_t   i, roles;

    roles = 0;
    last = p + len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        n = comma - p;

        for (i = 0; ngx_http_huella_role_names[i].name; i++) {
            if (n == ngx_strlen(ngx_http_huella_role_names[i].name)
                && ngx_strncmp(p, ngx_http_huella_role_names[i].name, n)
                   == 0)
            {
                roles |= ngx_http_huella_role_names[i].bit;
            }
        }

        p = comma + 1;
    }

    return roles;
}


json_t *
ngx_http_huella_roles_json(ngx_str_t *roles)
{
    u_char  *p, *last, *comma;
    json_t  *a;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    p = roles->data;
    last = p + roles->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        if (comma > p) {
            json_array_append_new(a, json_stringn((char *) p, comma - p));
        }

        p = comma + 1;
    }

    return a;
}


/*
 * The body's "roles", a non-empty array of distinct role names, as the
 * canonical comma list huellad takes (in list, from the request's pool):
 * NGX_OK, NGX_DECLINED (rejected) or NGX_ERROR.
 */

ngx_int_t
ngx_http_huella_roles_body(ngx_http_huella_ctx_t *ctx, ngx_str_t *list)
{
    u_char      *p;
    json_t      *roles, *v;
    size_t       i, len;
    ngx_uint_t   bit, seen;

    roles = json_object_get(ctx->body, "roles");

    if (roles == NULL || json_is_null(roles)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "roles",
                                      "\"roles\" is required");
    }

    if (!json_is_array(roles) || json_array_size(roles) == 0
        || json_array_size(roles) > 6)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_roles", "roles",
                                      "roles is a non-empty array of role "
                                      "names");
    }

    p = ngx_pnalloc(ctx->request->pool, 128);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = 0;
    seen = 0;

    json_array_foreach(roles, i, v) {
        bit = json_is_string(v)
              ? ngx_http_huella_roles_parse((u_char *) json_string_value(v),
                                            json_string_length(v))
              : 0;

        if (bit == 0 || (bit & seen) || ngx_strchr(json_string_value(v), ','))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_roles", "roles",
                                          "roles are, without repeats: "
                                          "worker, supervisor, employer_rep,"
                                          " pensioner, auditor, admin");
        }

        seen |= bit;

        if (len) {
            p[len++] = ',';
        }

        len = ngx_cpymem(p + len, json_string_value(v),
                         json_string_length(v)) - p;
    }

    list->data = p;
    list->len = len;

    return NGX_OK;
}


static json_t *
ngx_http_huella_str_json(ngx_str_t *s)
{
    if (s->len == 0) {
        return json_null();
    }

    return json_stringn((char *) s->data, s->len);
}


/* {"curp","name","email","roles","employer_rfc","auth_method"} */

json_t *
ngx_http_huella_identity_json(ngx_http_huella_identity_t *id)
{
    json_t  *doc;

    doc = json_object();
    if (doc == NULL) {
        return NULL;
    }

    json_object_set_new(doc, "curp",
                        ngx_http_huella_str_json(
                                      &id->f[NGX_HTTP_HUELLA_ID_CURP]));
    json_object_set_new(doc, "name",
                        ngx_http_huella_str_json(
                                      &id->f[NGX_HTTP_HUELLA_ID_NAME]));
    json_object_set_new(doc, "email",
                        ngx_http_huella_str_json(
                                      &id->f[NGX_HTTP_HUELLA_ID_EMAIL]));
    json_object_set_new(doc, "roles",
                        ngx_http_huella_roles_json(
                                      &id->f[NGX_HTTP_HUELLA_ID_ROLES]));
    json_object_set_new(doc, "employer_rfc",
                        ngx_http_huella_str_json(
                                      &id->f[NGX_HTTP_HUELLA_ID_RFC]));
    json_object_set_new(doc, "auth_method",
                        ngx_http_huella_str_json(
                                      &id->f[NGX_HTTP_HUELLA_ID_METHOD]));

    return doc;
}


/* the identity fields of a matcher reply; pointers into the reply */

ngx_int_t
ngx_http_huella_identity_decode(ngx_pool_t *pool, u_char *reply, size_t len,
    ngx_http_huella_identity_t *id)
{
    int                  rc;
    uint16_t             tag;
    uint32_t             n;
    ngx_int_t            field;
    const uint8_t       *data;
    struct hipc_reader   rd;

    ngx_memzero(id, sizeof(ngx_http_huella_identity_t));

    hipc_reader_init(&rd, reply, len);

    while ((rc = hipc_next(&rd, &tag, &data, &n)) == 1) {

        switch (tag) {
        case HIPC_F_CURP:
            field = NGX_HTTP_HUELLA_ID_CURP;
            break;
        case HIPC_F_NAME:
            field = NGX_HTTP_HUELLA_ID_NAME;
            break;
        case HIPC_F_EMAIL:
            field = NGX_HTTP_HUELLA_ID_EMAIL;
            break;
        case HIPC_F_ROLES:
            field = NGX_HTTP_HUELLA_ID_ROLES;
            break;
        case HIPC_F_ACCOUNT_RFC:
            field = NGX_HTTP_HUELLA_ID_RFC;
            break;
        case HIPC_F_AUTH_METHOD:
            field = NGX_HTTP_HUELLA_ID_METHOD;
            break;
        case HIPC_F_TOKEN_ID:
            field = NGX_HTTP_HUELLA_ID_TOKEN_ID;
            break;
        case HIPC_F_RFC:
            /* e.firma: the company, unless ACCOUNT_RFC says otherwise */
            if (id->f[NGX_HTTP_HUELLA_ID_RFC].len) {
                continue;
            }
            field = NGX_HTTP_HUELLA_ID_RFC;
            break;
        default:
            continue;
        }

        if (n > 1024) {
            return NGX_ERROR;
        }

        id->f[field].data = (u_char *) data;
        id->f[field].len = n;
    }

    if (rc != 0 || id->f[NGX_HTTP_HUELLA_ID_ROLES].len == 0) {
        return NGX_ERROR;
    }

    id->roles = ngx_http_huella_roles_parse(
                                      id->f[NGX_HTTP_HUELLA_ID_ROLES].data,
                                      id->f[NGX_HTTP_HUELLA_ID_ROLES].len);

    return NGX_OK;
}


ngx_str_t *
ngx_http_huella_client(ngx_http_request_t *r)
{
    return &r->connection->addr_text;
}


ngx_str_t *
ngx_http_huella_actor(ngx_http_huella_identity_t *id)
{
    if (id->f[NGX_HTTP_HUELLA_ID_CURP].len) {
        return &id->f[NGX_HTTP_HUELLA_ID_CURP];
    }

    return &id->f[NGX_HTTP_HUELLA_ID_TOKEN_ID];
}


/*
 * NGX_OK with the token, NGX_DECLINED without the header, else NGX_ABORT
 * with what is wrong with the header in *why
 */

static ngx_int_t
ngx_http_huella_bearer(ngx_http_request_t *r, ngx_str_t *token, char **why)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    p = h->value.data;
    last = p + h->value.len;

    /* nginx drops the trailing spaces of "Bearer " */

    if (h->value.len == sizeof("Bearer") - 1
        && ngx_strncasecmp(p, (u_char *) "Bearer", sizeof("Bearer") - 1)
           == 0)
    {
        *why = "the Authorization header has no token after \"Bearer\"";
        return NGX_ABORT;
    }

    if (h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(p, (u_char *) "Bearer ", sizeof("Bearer ") - 1)
           != 0)
    {
        *why = "the Authorization header must be \"Bearer <token>\"";
        return NGX_ABORT;
    }

    p += sizeof("Bearer ") - 1;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (p == last) {
        *why = "the Authorization header has no token after \"Bearer\"";
        return NGX_ABORT;
    }

    if (last - p > 512) {
        *why = "the bearer token is longer than 512 bytes";
        return NGX_ABORT;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static ngx_http_huella_identity_t *
ngx_http_huella_admin_identity(ngx_http_request_t *r)
{
    ngx_http_huella_identity_t  *id;

    id = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_identity_t));
    if (id == NULL) {
        return NULL;
    }

    ngx_str_set(&id->f[NGX_HTTP_HUELLA_ID_NAME], "admin");
    ngx_str_set(&id->f[NGX_HTTP_HUELLA_ID_ROLES], "admin");
    ngx_str_set(&id->f[NGX_HTTP_HUELLA_ID_METHOD], "token");
    ngx_str_set(&id->f[NGX_HTTP_HUELLA_ID_TOKEN_ID], "admin");
    id->roles = NGX_HTTP_HUELLA_ADMIN;

    return id;
}


/*
 * Finds the caller: NGX_OK (ctx->identity, or NULL with ctx->auth_error),
 * NGX_AGAIN while huellad checks a token (ngx_http_huella_resume() or the
 * phase engine runs again when it answers), NGX_ERROR.
 */

ngx_int_t
ngx_http_huella_resolve(ngx_http_huella_ctx_t *ctx)
{
    u_char                        diff;
    size_t                        i;
    ngx_int_t                     rc;
    ngx_str_t                     token, cookie, name;
    struct hipc_writer            w;
    ngx_http_request_t           *r;
    ngx_http_huella_identity_t   *id;
    ngx_http_huella_loc_conf_t   *hlcf;
    ngx_http_huella_main_conf_t  *hmcf;

    if (ctx->resolved) {
        return NGX_OK;
    }

    if (ctx->resolving) {
        return NGX_AGAIN;
    }

    r = ctx->request;
    hmcf = ngx_http_get_module_main_conf(r, ngx_http_huella_module);

    rc = ngx_http_huella_bearer(r, &token, &ctx->auth_why);

    if (rc == NGX_ABORT) {
        ctx->auth_error = "invalid_token";
        ctx->resolved = 1;
        return NGX_OK;
    }

    if (rc == NGX_OK) {

        /* the bootstrap token: constant time in its length */

        if (hmcf->token.len) {
            diff = (token.len != hmcf->token.len);

            for (i = 0; i < hmcf->token.len; i++) {
                diff |= hmcf->token.data[i]
                        ^ (i < token.len ? token.data[i] : 0);
            }

            if (diff == 0) {
                ctx->identity = ngx_http_huella_admin_identity(r);
                ctx->resolved = 1;

                return ctx->identity ? NGX_OK : NGX_ERROR;
            }
        }

        id = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_identity_t));
        if (id == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_huella_token_cache_find(r, &token, id) == NGX_OK) {
            ctx->identity = id;
            ctx->resolved = 1;
            return NGX_OK;
        }

        ctx->bearer = token;

        hipc_writer_init(&w, ngx_pnalloc(r->pool, token.len + 64),
                         token.len + 64);
        if (w.buf == NULL) {
            return NGX_ERROR;
        }

        hipc_put(&w, HIPC_F_TOKEN, token.data, token.len);

        ctx->auth_call.request = r;
        ctx->auth_call.handler = ngx_http_huella_token_checked;
        ctx->auth_call.data = ctx;

        hlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_module);

        rc = ngx_http_huella_link_call(&ctx->auth_call, HIPC_OP_TOKEN_CHECK,
                                       w.buf, w.len, hlcf->deadline);

        if (rc == NGX_OK) {
            ctx->resolving = 1;
            return NGX_AGAIN;
        }

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        ctx->auth_unavailable = 1;
        ctx->resolved = 1;
        return NGX_OK;
    }

    ctx->resolved = 1;

    ngx_str_set(&name, NGX_HTTP_HUELLA_COOKIE);

    if (ngx_http_parse_multi_header_lines(&r->headers_in.cookies, &name,
                                          &cookie)
        == NGX_DECLINED)
    {
        ctx->auth_error = "unauthenticated";
        return NGX_OK;
    }

    id = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_identity_t));
    if (id == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_huella_session_find(r, &cookie, id);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ctx->auth_error = "session_expired";
        return NGX_OK;
    }

    ctx->identity = id;

    return NGX_OK;
}


static void
ngx_http_huella_token_checked(ngx_http_huella_call_t *call)
{
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_huella_ctx_t       *ctx;
    ngx_http_huella_identity_t  *id;

    ctx = call->data;
    r = ctx->request;
    c = r->connection;

    ctx->resolving = 0;
    ctx->resolved = 1;

    if (call->rc != NGX_HTTP_HUELLA_REPLY
        || call->status == HIPC_ST_BUSY || call->status == HIPC_ST_EXPIRED
        || call->status == HIPC_ST_INTERNAL)
    {
        ctx->auth_unavailable = 1;

    } else if (call->status != HIPC_ST_OK) {
        ctx->auth_error = "invalid_token";

    } else {
        id = ngx_pcalloc(r->pool, sizeof(ngx_http_huella_identity_t));

        if (id == NULL
            || ngx_http_huella_identity_decode(r->pool, call->reply,
                                               call->reply_len, id)
               != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "huella: malformed TOKEN_CHECK reply");
            ctx->auth_unavailable = 1;

        } else {
            ngx_http_huella_token_cache_store(r, &ctx->bearer, id);
            ctx->identity = id;
        }
    }

    if (ctx->access_phase) {
        r->write_event_handler = ngx_http_core_run_phases;
        ngx_http_core_run_phases(r);

    } else {
        ngx_http_huella_resume(ctx);
    }

    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_huella_authorize(ngx_http_huella_ctx_t *ctx)
{
    ngx_uint_t                   access;
    ngx_http_huella_identity_t  *id;

    access = ctx->route->access;
    id = ctx->identity;

    if (access & NGX_HTTP_HUELLA_NO_AUTH) {
        return NGX_OK;
    }

    if (id == NULL) {
        if (access & NGX_HTTP_HUELLA_PUBLIC) {
            return NGX_OK;
        }

        if (ctx->auth_unavailable) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                          "matcher_unavailable", NULL,
                                          "the bearer token cannot be "
                                          "checked now, retry shortly");
        }

        if (ctx->auth_error && ngx_strcmp(ctx->auth_error, "invalid_token")
                               == 0)
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                          "invalid_token", NULL, "%s",
                                          ctx->auth_why
                                          ? ctx->auth_why
                                          : "the bearer token is not valid");
        }

        if (ctx->auth_error && ngx_strcmp(ctx->auth_error, "session_expired")
                               == 0)
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                          "session_expired", NULL,
                                          "the session has ended, sign in "
                                          "again");
        }

        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "unauthenticated", NULL,
                                      "sign in, or send an \"Authorization: "
                                      "Bearer <token>\" header");
    }

    if (access & NGX_HTTP_HUELLA_PUBLIC) {
        return NGX_OK;
    }

    if ((access & NGX_HTTP_HUELLA_SESSION_ONLY) && !id->session) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "session_required", NULL,
                                      "this needs a signed-in person, not "
                                      "a service token");
    }

    if ((id->roles & access & NGX_HTTP_HUELLA_ANY_ROLE) == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                                      NULL, "your roles do not allow this");
    }

    if (id->session) {
        return ngx_http_huella_csrf(ctx);
    }

    return NGX_OK;
}


/* an unsafe method of a cookie session carries the session's CSRF token */

static ngx_int_t
ngx_http_huella_csrf(ngx_http_huella_ctx_t *ctx)
{
    u_char              diff;
    size_t              i;
    ngx_str_t          *expect;
    ngx_uint_t          n;
    ngx_list_part_t    *part;
    ngx_table_elt_t    *h, *found;
    ngx_http_request_t *r;

    r = ctx->request;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS)) {
        return NGX_OK;
    }

    expect = &ctx->identity->f[NGX_HTTP_HUELLA_ID_CSRF];
    found = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (n = 0; /* void */; n++) {

        if (n >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            n = 0;
        }

        if (h[n].key.len == sizeof("X-CSRF-Token") - 1
            && ngx_strncasecmp(h[n].key.data, (u_char *) "X-CSRF-Token",
                               sizeof("X-CSRF-Token") - 1) == 0)
        {
            if (found) {
                found = NULL;   /* two of them: refused */
                break;
            }

            found = &h[n];
        }
    }

    if (found == NULL || expect->len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "csrf_token_invalid", NULL,
                                      "an X-CSRF-Token header with the "
                                      "session's csrf_token is required");
    }

    diff = (found->value.len != expect->len);

    for (i = 0; i < expect->len; i++) {
        diff |= expect->data[i]
                ^ (i < found->value.len ? found->value.data[i] : 0);
    }

    if (diff) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "csrf_token_invalid", NULL,
                                      "the X-CSRF-Token header does not "
                                      "match the session");
    }

    return NGX_OK;
}


/* sends AUDIT_APPEND with ACTOR, ACTION, TARGET and CLIENT */

ngx_int_t
ngx_http_huella_audit(ngx_http_huella_ctx_t *ctx, char *action,
    ngx_str_t *target)
{
    ngx_str_t  *actor, *client;

    actor = ngx_http_huella_actor(ctx->identity);
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put_str(&ctx->writer, HIPC_F_ACTION, action);

    if (target && target->len) {
        hipc_put(&ctx->writer, HIPC_F_TARGET, target->data, target->len);
    }

    hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);

    return NGX_OK;
}


/* ---- huella_auth ------------------------------------------------------- */

ngx_int_t
ngx_http_huella_access_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_huella_access_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_huella_ctx_t       *ctx;
    ngx_http_huella_loc_conf_t  *hlcf;

    hlcf = ngx_http_get_module_loc_conf(r, ngx_http_huella_module);

    if (!hlcf->auth) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_huella_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->access_phase = 1;

    rc = ngx_http_huella_resolve(ctx);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    ctx->access_phase = 0;

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->identity == NULL) {
        rc = ngx_http_huella_deny(r, ctx);
        if (rc == NGX_HTTP_MOVED_TEMPORARILY || rc == NGX_ERROR
            || rc == NGX_HTTP_INTERNAL_SERVER_ERROR)
        {
            return rc;
        }

        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    if (ngx_http_huella_remote_headers(r, ctx->identity) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * No identity: a 302 to the login page with the local path to come back
 * to for a browser asking for HTML, else a 401 (503 when huellad could not
 * check a token) in the API's JSON.
 */

static ngx_int_t
ngx_http_huella_deny(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx)
{
    u_char           *p, *s, *last, c;
    size_t            len;
    ngx_str_t         code, message;
    ngx_uint_t        status;
    ngx_table_elt_t  *accept, *h;

    static u_char     hex[] = "0123456789ABCDEF";

    accept = r->headers_in.accept;

    if (accept && !ctx->auth_unavailable
        && ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "text/html",
                            sizeof("text/html") - 1 - 1)
           != NULL)
    {
        /*
         * r->uri always starts with "/"; a "//" or "/\" start could be
         * taken by a browser for another host: "/" instead
         */

        s = r->uri.data;
        len = r->uri.len;

        if (len < 1 || s[0] != '/'
            || (len > 1 && (s[1] == '/' || s[1] == '\\')))
        {
            s = (u_char *) "/";
            len = 1;
        }

        p = ngx_pnalloc(r->pool, sizeof("/login.html?return=") - 1
                                 + 3 * (len + 1 + r->args.len));
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Location");
        h->lowcase_key = NULL;
        h->value.data = p;

        p = ngx_cpymem(p, "/login.html?return=",
                       sizeof("/login.html?return=") - 1);

        /* the path, then "?" and the arguments, percent-encoded whole */

        for (last = s + len; s < last || r->args.len; s++) {

            if (s == last) {
                *p++ = '%';
                *p++ = '3';
                *p++ = 'F';
                s = r->args.data;
                last = s + r->args.len;
                ngx_str_null(&r->args);

                if (s == last) {
                    break;
                }
            }

            c = *s;

            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '-' || c == '.'
                || c == '_' || c == '~')
            {
                *p++ = c;

            } else {
                *p++ = '%';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];
            }
        }

        h->value.len = p - h->value.data;
        r->headers_out.location = h;

        return NGX_HTTP_MOVED_TEMPORARILY;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->auth_unavailable) {
        status = NGX_HTTP_SERVICE_UNAVAILABLE;
        ngx_str_set(&code, "matcher_unavailable");
        ngx_str_set(&message, "the bearer token cannot be checked now, "
                              "retry shortly");

    } else {
        status = NGX_HTTP_UNAUTHORIZED;
        code.data = (u_char *) (ctx->auth_error ? ctx->auth_error
                                                : "unauthenticated");
        code.len = ngx_strlen(code.data);
        ngx_str_set(&message, "sign in, or send an \"Authorization: Bearer "
                              "<token>\" header");

        if (ctx->auth_why) {
            message.data = (u_char *) ctx->auth_why;
            message.len = ngx_strlen(ctx->auth_why);
        }
    }

    return ngx_http_huella_send_error(r, status, &code, &message, NULL);
}


/* strips the client's Remote-* request headers and sets the identity's */

static ngx_int_t
ngx_http_huella_remote_headers(ngx_http_request_t *r,
    ngx_http_huella_identity_t *id)
{
    u_char           *p;
    ngx_str_t         value[4];
    ngx_list_t        list;
    ngx_uint_t        i, k, skip;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    if (ngx_list_init(&list, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        skip = 0;

        for (k = 0; ngx_http_huella_remote[k]; k++) {
            if (h[i].key.len == ngx_strlen(ngx_http_huella_remote[k])
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) ngx_http_huella_remote[k],
                                   h[i].key.len) == 0)
            {
                skip = 1;
                break;
            }
        }

        if (skip) {
            continue;
        }

        nh = ngx_list_push(&list);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    value[0] = id->f[NGX_HTTP_HUELLA_ID_CURP].len
               ? id->f[NGX_HTTP_HUELLA_ID_CURP]
               : id->f[NGX_HTTP_HUELLA_ID_NAME];
    value[1] = id->f[NGX_HTTP_HUELLA_ID_NAME];
    value[2] = id->f[NGX_HTTP_HUELLA_ID_ROLES];
    value[3] = id->f[NGX_HTTP_HUELLA_ID_EMAIL];

    for (k = 0; k < 4; k++) {

        /* values come from huellad; a control character is never sent */

        for (i = 0; i < value[k].len; i++) {
            if (value[k].data[i] < 0x20 || value[k].data[i] == 0x7f) {
                return NGX_ERROR;
            }
        }

        nh = ngx_list_push(&list);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        nh->key.data = (u_char *) ngx_http_huella_remote[k];
        nh->key.len = ngx_strlen(ngx_http_huella_remote[k]);
        nh->value = value[k];

        p = ngx_pnalloc(r->pool, nh->key.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        nh->lowcase_key = p;
        nh->hash = ngx_hash_strlow(p, nh->key.data, nh->key.len);
    }

    r->headers_in.headers = list;

    return NGX_OK;
}


/* GET /api/v1/auth, for auth_request */

static ngx_int_t
ngx_http_huella_auth_check_encode(ngx_http_huella_ctx_t *ctx)
{
    /* the route needs an identity: ngx_http_huella_authorize() did 401 */

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_auth_check_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_uint_t                   k;
    ngx_str_t                    value[4];
    ngx_http_request_t          *r;
    ngx_http_huella_identity_t  *id;

    r = ctx->request;
    id = ctx->identity;

    value[0] = id->f[NGX_HTTP_HUELLA_ID_CURP].len
               ? id->f[NGX_HTTP_HUELLA_ID_CURP]
               : id->f[NGX_HTTP_HUELLA_ID_NAME];
    value[1] = id->f[NGX_HTTP_HUELLA_ID_NAME];
    value[2] = id->f[NGX_HTTP_HUELLA_ID_ROLES];
    value[3] = id->f[NGX_HTTP_HUELLA_ID_EMAIL];

    for (k = 0; k < 4; k++) {
        if (value[k].len
            && ngx_http_huella_add_header(r, ngx_http_huella_remote[k],
                                          &value[k])
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_huella_send_empty(r, NGX_HTTP_NO_CONTENT);
}
