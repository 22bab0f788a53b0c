
/*
 * Routing of the API: the routing table with the roles each route
 * admits, which endpoint a URI and method name (404, 405 with Allow), the
 * CURP and finger position in the path (422).  Authentication and the
 * role check are in ngx_http_huella_auth.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


static ngx_int_t ngx_http_huella_not_allowed(ngx_http_huella_ctx_t *ctx,
    char *allow);
static ngx_int_t ngx_http_huella_path_curp(ngx_http_huella_ctx_t *ctx,
    u_char *p, size_t len);
static ngx_int_t ngx_http_huella_path_position(ngx_http_huella_ctx_t *ctx,
    u_char *p, size_t len);


/*
 * The routing table, the one place that says who may call what.  A path
 * segment "{curp}", "{position}" or "{id}" matches any one segment.  GET
 * routes answer HEAD too.  access: the roles allowed, or
 *   NGX_HTTP_HUELLA_NO_AUTH       no identity needed, no CSRF token (the
 *                                 calls that create a session or account)
 *   NGX_HTTP_HUELLA_PUBLIC        anyone; read-only, so no CSRF token
 *   NGX_HTTP_HUELLA_SESSION_ONLY  a signed-in person, not a service token
 */

#define W    NGX_HTTP_HUELLA_WORKER
#define S    NGX_HTTP_HUELLA_SUPERVISOR
#define E    NGX_HTTP_HUELLA_EMPLOYER_REP
#define P    NGX_HTTP_HUELLA_PENSIONER
#define AU   NGX_HTTP_HUELLA_AUDITOR
#define AD   NGX_HTTP_HUELLA_ADMIN
#define ANY  NGX_HTTP_HUELLA_ANY_ROLE

static ngx_http_huella_route_t  ngx_http_huella_routes[] = {

    { NGX_HTTP_GET, "/healthz",
      &ngx_http_huella_ping, NGX_HTTP_HUELLA_NO_AUTH },

    /* issue 2: subjects and matching */

    { NGX_HTTP_POST, "/api/v1/subjects",
      &ngx_http_huella_subject_create, AD },
    { NGX_HTTP_GET, "/api/v1/subjects/{curp}",
      &ngx_http_huella_subject_get, AD },
    { NGX_HTTP_DELETE, "/api/v1/subjects/{curp}",
      &ngx_http_huella_subject_delete, AD },
    { NGX_HTTP_PUT, "/api/v1/subjects/{curp}/fingers/{position}",
      &ngx_http_huella_finger_put, AD },
    { NGX_HTTP_DELETE, "/api/v1/subjects/{curp}/fingers/{position}",
      &ngx_http_huella_finger_delete, AD },
    { NGX_HTTP_POST, "/api/v1/verify",
      &ngx_http_huella_verify, AD },
    { NGX_HTTP_POST, "/api/v1/identify",
      &ngx_http_huella_identify, AD },

    /* issue 4: identity (docs/identity-api.md) */

    { NGX_HTTP_POST, "/api/v1/validate",
      &ngx_http_huella_validate, NGX_HTTP_HUELLA_PUBLIC },
    { NGX_HTTP_POST, "/api/v1/accounts",
      &ngx_http_huella_account_create, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_PUT, "/api/v1/accounts/{curp}/roles",
      &ngx_http_huella_roles_set, AD },
    { NGX_HTTP_POST, "/api/v1/accounts/{curp}/unlock",
      &ngx_http_huella_account_unlock, AD },
    { NGX_HTTP_POST, "/api/v1/session",
      &ngx_http_huella_login, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_DELETE, "/api/v1/session",
      &ngx_http_huella_logout, ANY|NGX_HTTP_HUELLA_SESSION_ONLY },
    { NGX_HTTP_GET, "/api/v1/me",
      &ngx_http_huella_me, ANY },
    { NGX_HTTP_PUT, "/api/v1/me/password",
      &ngx_http_huella_password_change, ANY|NGX_HTTP_HUELLA_SESSION_ONLY },
    { NGX_HTTP_POST, "/api/v1/recovery",
      &ngx_http_huella_recovery_start, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_POST, "/api/v1/recovery/finish",
      &ngx_http_huella_recovery_finish, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_POST, "/api/v1/session/efirma/challenge",
      &ngx_http_huella_efirma_challenge, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_POST, "/api/v1/session/efirma",
      &ngx_http_huella_efirma_login, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_POST, "/api/v1/efirma/inspect",
      &ngx_http_huella_efirma_inspect, NGX_HTTP_HUELLA_PUBLIC },
    { NGX_HTTP_GET, "/api/v1/tokens",
      &ngx_http_huella_tokens_list, AD },
    { NGX_HTTP_POST, "/api/v1/tokens",
      &ngx_http_huella_token_create, AD },
    { NGX_HTTP_DELETE, "/api/v1/tokens/{id}",
      &ngx_http_huella_token_revoke, AD },
    { NGX_HTTP_GET, "/api/v1/audit",
      &ngx_http_huella_audit_list, AU|AD },
    { NGX_HTTP_POST, "/api/v1/audit/verify",
      &ngx_http_huella_audit_verify, AU|AD },
    { NGX_HTTP_GET, "/api/v1/auth",
      &ngx_http_huella_auth_check, ANY },

    /* issue 5: devices, signed enrollment, dedup (docs/devices.md) */

    { NGX_HTTP_GET, "/.well-known/jwks.json",
      &ngx_http_huella_jwks, NGX_HTTP_HUELLA_NO_AUTH },
    { NGX_HTTP_POST, "/api/v1/devices",
      &ngx_http_huella_device_register, E|AD },
    { NGX_HTTP_GET, "/api/v1/devices",
      &ngx_http_huella_devices_list, E|AD },
    { NGX_HTTP_POST, "/api/v1/devices/{id}/suspend",
      &ngx_http_huella_device_suspend, E|AD },
    { NGX_HTTP_POST, "/api/v1/devices/{id}/reactivate",
      &ngx_http_huella_device_reactivate, E|AD },
    { NGX_HTTP_POST, "/api/v1/devices/{id}/revoke",
      &ngx_http_huella_device_revoke, E|AD },
    { NGX_HTTP_GET, "/api/v1/subjects",
      &ngx_http_huella_subject_lookup, E|AD },
    { NGX_HTTP_POST, "/api/v1/subjects/{curp}/enrollment",
      &ngx_http_huella_enroll, E|AD|NGX_HTTP_HUELLA_SIGNED_ENROLLMENT },
    { NGX_HTTP_GET, "/api/v1/receipts/{id}",
      &ngx_http_huella_receipt_get, ANY },
    { NGX_HTTP_GET, "/api/v1/dedup",
      &ngx_http_huella_dedup_list, AU },
    { NGX_HTTP_POST, "/api/v1/dedup/{id}/resolve",
      &ngx_http_huella_dedup_resolve, AU },
    { NGX_HTTP_GET, "/api/v1/dedup-jobs",
      &ngx_http_huella_dedup_jobs_list, E|AU|AD },
    { NGX_HTTP_GET, "/api/v1/dedup-jobs/{id}",
      &ngx_http_huella_dedup_job_get, E|AU|AD },
    { NGX_HTTP_GET, "/api/v1/exceptions",
      &ngx_http_huella_exceptions, AU|AD },
    { NGX_HTTP_GET, "/api/v1/me/exceptions",
      &ngx_http_huella_my_exceptions, ANY },

    /* issue 6: attendance (docs/attendance-api.md); huellad decides whose
     * records a caller may see or decide (ACTOR, ROLES) */

    { NGX_HTTP_POST, "/api/v1/punches",
      &ngx_http_huella_punch,
      NGX_HTTP_HUELLA_NO_AUTH|NGX_HTTP_HUELLA_SIGNED_KIOSK },
    { NGX_HTTP_GET, "/api/v1/me/attendance",
      &ngx_http_huella_my_attendance, W|S|AU|AD },
    { NGX_HTTP_GET, "/api/v1/subjects/{curp}/attendance",
      &ngx_http_huella_subject_attendance, S|AU|AD },
    { NGX_HTTP_GET, "/api/v1/attendance/rules",
      &ngx_http_huella_attendance_rules, ANY },
    { NGX_HTTP_POST, "/api/v1/attendance/rules/changes",
      &ngx_http_huella_attendance_rules_change, AD },
    { NGX_HTTP_GET, "/api/v1/attendance/biometric-disabled",
      &ngx_http_huella_biometric_disabled, AU|AD },
    { NGX_HTTP_POST, "/api/v1/subjects/{curp}/biometric/enable",
      &ngx_http_huella_biometric_enable, AD },
    { NGX_HTTP_GET, "/api/v1/reports/attendance",
      &ngx_http_huella_attendance_report, W|S|AU|AD },
    { NGX_HTTP_POST, "/api/v1/justifications",
      &ngx_http_huella_justification_create, W|S|AD },
    { NGX_HTTP_GET, "/api/v1/justifications",
      &ngx_http_huella_justifications_list, W|S|AU|AD },
    { NGX_HTTP_POST, "/api/v1/justifications/{id}/decision",
      &ngx_http_huella_justification_decide, S|AD },
    { NGX_HTTP_GET, "/api/v1/justifications/{id}/attachment",
      &ngx_http_huella_justification_attachment, W|S|AU|AD },
    { NGX_HTTP_GET, "/api/v1/notifications",
      &ngx_http_huella_notifications, W|S|AU|AD },

    { 0, NULL, NULL, 0 }
};

#undef W
#undef S
#undef E
#undef P
#undef AU
#undef AD
#undef ANY


/* NGX_OK when uri matches the pattern, the parameters stored in ctx */

static ngx_int_t
ngx_http_huella_match_path(ngx_http_huella_ctx_t *ctx, char *pattern,
    ngx_str_t *uri)
{
    u_char     *p, *last, *q, *end;
    ngx_str_t  *param;

    p = uri->data;
    last = p + uri->len;
    q = (u_char *) pattern;

    while (*q) {

        if (*q != '{') {
            if (p == last || *p != *q) {
                return NGX_DECLINED;
            }

            p++;
            q++;
            continue;
        }

        end = (u_char *) ngx_strchr(q, '}');

        if (ngx_strncmp(q, "{curp}", 6) == 0) {
            param = &ctx->path_curp;

        } else if (ngx_strncmp(q, "{position}", 10) == 0) {
            param = &ctx->path_position;

        } else {
            param = &ctx->path_id;
        }

        param->data = p;

        while (p < last && *p != '/') {
            p++;
        }

        param->len = p - param->data;

        if (param->len == 0) {
            return NGX_DECLINED;
        }

        q = end + 1;
    }

    return (p == last) ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_huella_route(ngx_http_request_t *r, ngx_http_huella_ctx_t *ctx)
{
    u_char                   *a, allow[64];
    ngx_uint_t                m, methods, i;
    ngx_http_huella_route_t  *rt;

    static struct {
        ngx_uint_t  method;
        char       *name;
    } names[] = {
        { NGX_HTTP_GET, "GET, HEAD" }, { NGX_HTTP_POST, "POST" },
        { NGX_HTTP_PUT, "PUT" }, { NGX_HTTP_DELETE, "DELETE" }, { 0, NULL }
    };

    m = r->method;
    methods = 0;

    for (rt = ngx_http_huella_routes; rt->path; rt++) {

        if (ngx_http_huella_match_path(ctx, rt->path, &r->uri) != NGX_OK) {
            continue;
        }

        if ((rt->methods & m)
            || ((rt->methods & NGX_HTTP_GET) && m == NGX_HTTP_HEAD))
        {
            ctx->route = rt;
            ctx->endpoint = rt->endpoint;
            return NGX_OK;
        }

        methods |= rt->methods;
    }

    ngx_str_null(&ctx->path_curp);
    ngx_str_null(&ctx->path_position);
    ngx_str_null(&ctx->path_id);

    if (methods == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                      NULL, "no API resource at \"%V\"",
                                      &r->uri);
    }

    a = allow;

    for (i = 0; names[i].name; i++) {
        if (methods & names[i].method) {
            if (a != allow) {
                a = ngx_cpymem(a, ", ", 2);
            }

            a = ngx_cpymem(a, names[i].name, ngx_strlen(names[i].name));
        }
    }

    *a = '\0';

    a = ngx_pnalloc(r->pool, a - allow + 1);
    if (a == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(a, allow, sizeof(allow));

    return ngx_http_huella_not_allowed(ctx, (char *) a);
}


static ngx_int_t
ngx_http_huella_not_allowed(ngx_http_huella_ctx_t *ctx, char *allow)
{
    ngx_str_t            value;
    ngx_http_request_t  *r;

    r = ctx->request;

    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_huella_add_header(r, "Allow", &value) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_huella_reject(ctx, NGX_HTTP_NOT_ALLOWED,
                                  "method_not_allowed", NULL,
                                  "method %V is not allowed here, use %s",
                                  &r->method_name, allow);
}


/* validated only once the caller is authorized */

ngx_int_t
ngx_http_huella_path_params(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (ctx->path_curp.data) {
        rc = ngx_http_huella_path_curp(ctx, ctx->path_curp.data,
                                       ctx->path_curp.len);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ctx->path_position.data) {
        return ngx_http_huella_path_position(ctx, ctx->path_position.data,
                                             ctx->path_position.len);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_path_curp(ngx_http_huella_ctx_t *ctx, u_char *p, size_t len)
{
    char  *rule;

    if (len > NGX_HTTP_HUELLA_CURP_LEN) {
        len = NGX_HTTP_HUELLA_CURP_LEN + 1;
    }

    ctx->curp.data = ngx_pnalloc(ctx->request->pool, len);
    if (ctx->curp.data == NULL) {
        return NGX_ERROR;
    }

    ctx->curp.len = len;

    /* CURPs are upper case; lower case input is accepted and normalized */

    while (len--) {
        ctx->curp.data[len] = ngx_toupper(p[len]);
    }

    rule = ngx_http_huella_curp_check(ctx->curp.data, ctx->curp.len);

    if (rule) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_curp", "curp", "%s", rule);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_path_position(ngx_http_huella_ctx_t *ctx, u_char *p,
    size_t len)
{
    ngx_int_t  n;

    n = ngx_atoi(p, len);

    if (n < 1 || n > 10) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_position", "position",
                                      "finger position must be an integer "
                                      "from 1 (right thumb) to 10 "
                                      "(left little finger)");
    }

    ctx->position = n;

    return NGX_OK;
}
