
/*
 * Attendance consultation, rules and reports (issue 6,
 * docs/attendance-api.md):
 *
 *   GET /api/v1/me/attendance?from=&to=             the caller's days
 *   GET /api/v1/subjects/{curp}/attendance?from=&to= someone's days
 *   GET /api/v1/attendance/rules                     shifts, sites, reasons
 *   GET /api/v1/reports/attendance?from=&to=[&curp=|&scope=][&format=csv]
 *   POST /api/v1/attendance/rules/changes            an admin's change
 *   GET /api/v1/attendance/biometric-disabled        people disabled
 *   POST /api/v1/subjects/{curp}/biometric/enable    re-enable one
 *
 * The module checks the shape of every field (422 naming it) and passes
 * the caller as ACTOR and ROLES; huellad decides whose records the caller
 * may see (403 not_your_report).  Also the helpers the other attendance
 * files share: the caller's fields, the test clock, dates, query
 * arguments, replies of JSON or of raw bytes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"
#include "ngx_http_huella_attendance.h"
#include "ngx_http_huella_devices.h"


#define NGX_HTTP_HUELLA_ARG_MAX  256


static ngx_int_t ngx_http_huella_me_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_subject_att_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_period(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_period_day(ngx_http_huella_ctx_t *ctx,
    char *name, ngx_str_t *day);
static ngx_int_t ngx_http_huella_days_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_rules_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_report_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_rules_change_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_biometric_enable_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_report_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_my_attendance = {
    .op = HIPC_OP_ATTENDANCE_QUERY,
    .encode = ngx_http_huella_me_encode,
    .decode = ngx_http_huella_days_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_subject_attendance = {
    .op = HIPC_OP_ATTENDANCE_QUERY,
    .encode = ngx_http_huella_subject_att_encode,
    .decode = ngx_http_huella_days_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_attendance_rules = {
    .op = HIPC_OP_ATTENDANCE_RULES,
    .encode = ngx_http_huella_rules_encode,
    .decode = ngx_http_huella_days_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_attendance_rules_change = {
    .op = HIPC_OP_ATT_RULES_CHANGE,
    .encode = ngx_http_huella_rules_change_encode,
    .decode = ngx_http_huella_days_decode,
    .body = 1,
};

ngx_http_huella_endpoint_t  ngx_http_huella_biometric_disabled = {
    .op = HIPC_OP_BIOMETRIC_LIST,
    .encode = ngx_http_huella_rules_encode,
    .decode = ngx_http_huella_days_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_biometric_enable = {
    .op = HIPC_OP_BIOMETRIC_ENABLE,
    .encode = ngx_http_huella_biometric_enable_encode,
    .decode = ngx_http_huella_days_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_attendance_report = {
    .op = HIPC_OP_REPORT,
    .encode = ngx_http_huella_report_encode,
    .decode = ngx_http_huella_report_decode,
};


static ngx_str_t  ngx_http_huella_csv_type =
    ngx_string("text/csv; charset=utf-8");


/* ---- shared helpers --------------------------------------------------- */

void
ngx_http_huella_att_caller(ngx_http_huella_ctx_t *ctx)
{
    ngx_str_t                   *actor, *client, *roles;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;
    actor = ngx_http_huella_actor(id);
    roles = &id->f[NGX_HTTP_HUELLA_ID_ROLES];
    client = ngx_http_huella_client(ctx->request);

    hipc_put(&ctx->writer, HIPC_F_ACTOR, actor->data, actor->len);
    hipc_put(&ctx->writer, HIPC_F_ROLES, roles->data, roles->len);

    if (client->len && ngx_http_huella_att_word(client, 63)) {
        hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);
    }
}


ngx_int_t
ngx_http_huella_att_test_now(ngx_http_huella_ctx_t *ctx)
{
    size_t            i;
    uint64_t          t;
    ngx_uint_t        n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &ctx->request->headers_in.headers.part;
    h = part->elts;

    for (n = 0; /* void */; n++) {

        if (n >= part->nelts) {
            if (part->next == NULL) {
                return NGX_OK;
            }

            part = part->next;
            h = part->elts;
            n = 0;
        }

        if (h[n].key.len == sizeof(NGX_HTTP_HUELLA_TEST_NOW_HEADER) - 1
            && ngx_strncasecmp(h[n].key.data,
                               (u_char *) NGX_HTTP_HUELLA_TEST_NOW_HEADER,
                               h[n].key.len) == 0)
        {
            break;
        }
    }

    t = 0;

    for (i = 0; i < h[n].value.len; i++) {
        if (h[n].value.data[i] < '0' || h[n].value.data[i] > '9') {
            break;
        }

        t = t * 10 + (h[n].value.data[i] - '0');
    }

    if (h[n].value.len == 0 || h[n].value.len > 12 || i < h[n].value.len) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_test_now", "test_now",
                                      NGX_HTTP_HUELLA_TEST_NOW_HEADER
                                      " is unix seconds (1 to 12 digits)");
    }

    hipc_put_u64(&ctx->writer, HIPC_F_TEST_NOW, t);

    return NGX_OK;
}


ngx_uint_t
ngx_http_huella_att_date_valid(u_char *p, size_t len)
{
    ngx_int_t  y, m, d, days;

    if (len != 10 || p[4] != '-' || p[7] != '-') {
        return 0;
    }

    y = ngx_atoi(p, 4);
    m = ngx_atoi(p + 5, 2);
    d = ngx_atoi(p + 8, 2);

    if (y < 1970 || y > 2999 || m < 1 || m > 12 || d < 1) {
        return 0;
    }

    if (m == 2) {
        days = (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28;

    } else if (m == 4 || m == 6 || m == 9 || m == 11) {
        days = 30;

    } else {
        days = 31;
    }

    return d <= days;
}


ngx_uint_t
ngx_http_huella_att_word(ngx_str_t *s, size_t max)
{
    size_t  i;

    if (s->len == 0 || s->len > max) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] <= 0x20 || s->data[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_huella_att_arg(ngx_http_huella_ctx_t *ctx, char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    ngx_str_null(value);

    if (ngx_http_arg(ctx->request, (u_char *) name, ngx_strlen(name), &raw)
        != NGX_OK)
    {
        return NGX_DONE;
    }

    if (raw.len > NGX_HTTP_HUELLA_ARG_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_value", name,
                                      "\"%s\" is too long", name);
    }

    dst = ngx_pnalloc(ctx->request->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, 0);

    value->len = dst - value->data;

    return NGX_OK;
}


ngx_int_t
ngx_http_huella_att_send_bytes(ngx_http_request_t *r, ngx_str_t *type,
    ngx_str_t *disposition, u_char *data, size_t len)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t         no_store;
    ngx_chain_t       out;

    ngx_str_set(&no_store, "no-store");

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    if (ngx_http_huella_add_header(r, "Cache-Control", &no_store) != NGX_OK
        || (disposition
            && ngx_http_huella_add_header(r, "Content-Disposition",
                                          disposition)
               != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* ---- consultation ----------------------------------------------------- */

/* from and to: required, real days, from <= to (huellad caps the span) */

static ngx_int_t
ngx_http_huella_period(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   from, to;

    rc = ngx_http_huella_period_day(ctx, "from", &from);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_period_day(ctx, "to", &to);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_strncmp(from.data, to.data, 10) > 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_range", "to",
                                      "to (%V) is before from (%V)",
                                      &to, &from);
    }

    hipc_put(&ctx->writer, HIPC_F_FROM, from.data, from.len);
    hipc_put(&ctx->writer, HIPC_F_TO, to.data, to.len);

    return NGX_OK;
}


/* the argument name: required, a real day YYYY-MM-DD */

static ngx_int_t
ngx_http_huella_period_day(ngx_http_huella_ctx_t *ctx, char *name,
    ngx_str_t *day)
{
    ngx_int_t  rc;

    rc = ngx_http_huella_att_arg(ctx, name, day);

    if (rc == NGX_DONE) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", name,
                                      "\"%s\" (YYYY-MM-DD) is required",
                                      name);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (!ngx_http_huella_att_date_valid(day->data, day->len)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_date", name,
                                      "%s must be a date YYYY-MM-DD", name);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_me_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t  *curp;

    curp = &ctx->identity->f[NGX_HTTP_HUELLA_ID_CURP];

    if (curp->len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "not_a_person", NULL,
                                      "a service token has no attendance "
                                      "of its own; use /api/v1/subjects/"
                                      "{curp}/attendance");
    }

    rc = ngx_http_huella_period(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_att_test_now(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, curp->data, curp->len);
    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_subject_att_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_huella_period(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_att_test_now(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


/* the days (or the rules) as huellad wrote them */

static ngx_int_t
ngx_http_huella_days_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t  *doc;

    doc = ngx_http_huella_reply_doc(rd);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}


/* the caller only (admins and auditors see groups and people too) */

static ngx_int_t
ngx_http_huella_rules_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


/* the change as sent; huellad checks every key (422 naming it) */

static ngx_int_t
ngx_http_huella_rules_change_encode(ngx_http_huella_ctx_t *ctx)
{
    char  *text;

    if (!json_is_object(ctx->body)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", NULL,
                                      "a rules change is a JSON object");
    }

    text = json_dumps(ctx->body, JSON_COMPACT);
    if (text == NULL) {
        return NGX_ERROR;
    }

    hipc_put(&ctx->writer, HIPC_F_JSON, text, ngx_strlen(text));
    free(text);

    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_biometric_enable_encode(ngx_http_huella_ctx_t *ctx)
{
    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


/* ---- reports ---------------------------------------------------------- */

static ngx_int_t
ngx_http_huella_report_encode(ngx_http_huella_ctx_t *ctx)
{
    u_char                      *p;
    char                        *rule;
    size_t                       i;
    ngx_int_t                    rc;
    ngx_str_t                    curp, scope, format, *self;
    ngx_uint_t                   team;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;

    rc = ngx_http_huella_period(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_att_arg(ctx, "format", &format);

    if (rc == NGX_OK) {
        if ((format.len == 3 && ngx_strncmp(format.data, "csv", 3) == 0)
            || (format.len == 4 && ngx_strncmp(format.data, "json", 4) == 0))
        {
            hipc_put(&ctx->writer, HIPC_F_OUTPUT, format.data, format.len);

        } else {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_format", "format",
                                          "format is json or csv");
        }

    } else if (rc != NGX_DONE) {
        return rc;
    }

    rc = ngx_http_huella_att_arg(ctx, "scope", &scope);

    if (rc != NGX_OK && rc != NGX_DONE) {
        return rc;
    }

    team = 0;

    if (scope.data) {
        if (scope.len == 4 && ngx_strncmp(scope.data, "team", 4) == 0) {
            team = 1;

        } else if (!(scope.len == 4
                     && ngx_strncmp(scope.data, "mine", 4) == 0))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_scope", "scope",
                                          "scope is mine or team");
        }
    }

    rc = ngx_http_huella_att_arg(ctx, "curp", &curp);

    if (rc == NGX_OK) {
        if (scope.data) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_scope", "scope",
                                          "give either curp or scope");
        }

        p = ngx_pnalloc(ctx->request->pool, curp.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < curp.len; i++) {
            p[i] = ngx_toupper(curp.data[i]);
        }

        rule = ngx_http_huella_curp_check(p, curp.len);

        if (rule) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_curp", "curp", "%s",
                                          rule);
        }

        ctx->curp.data = p;
        ctx->curp.len = curp.len;

    } else if (rc != NGX_DONE) {
        return rc;

    } else if (scope.data == NULL) {

        /* by default a supervisor's report is of the team */

        team = (id->roles & (NGX_HTTP_HUELLA_SUPERVISOR
                             |NGX_HTTP_HUELLA_AUDITOR
                             |NGX_HTTP_HUELLA_ADMIN))
               ? 1 : 0;
    }

    if (team) {
        if (!(id->roles & (NGX_HTTP_HUELLA_SUPERVISOR|NGX_HTTP_HUELLA_AUDITOR
                           |NGX_HTTP_HUELLA_ADMIN)))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                          "forbidden", "scope",
                                          "a team report needs the "
                                          "supervisor, auditor or admin "
                                          "role");
        }

        hipc_put_str(&ctx->writer, HIPC_F_SCOPE, "team");
        ngx_str_set(&ctx->curp, "equipo");

    } else if (ctx->curp.len) {
        hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);

    } else {
        self = &id->f[NGX_HTTP_HUELLA_ID_CURP];

        if (self->len == 0) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                          "not_a_person", "scope",
                                          "a service token has no "
                                          "attendance of its own; give "
                                          "curp or scope=team");
        }

        hipc_put(&ctx->writer, HIPC_F_CURP, self->data, self->len);
        ctx->curp = *self;
    }

    rc = ngx_http_huella_att_test_now(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_report_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char          *p;
    json_t          *doc;
    uint16_t         tag;
    uint32_t         len;
    ngx_str_t        from, to, disposition;
    const uint8_t   *data;

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        if (tag == HIPC_F_JSON) {
            doc = json_loadb((const char *) data, len, 0, NULL);

            if (doc == NULL || !json_is_object(doc)) {
                json_decref(doc);
                return ngx_http_huella_malformed(ctx);
            }

            return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
        }

        if (tag != HIPC_F_TEXT) {
            continue;
        }

        /* from and to were validated by the encoder */

        (void) ngx_http_huella_att_arg(ctx, "from", &from);
        (void) ngx_http_huella_att_arg(ctx, "to", &to);

        p = ngx_pnalloc(ctx->request->pool,
                        sizeof("attachment; filename=\"asistencia__"
                               "_.csv\"") + ctx->curp.len + 20);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        disposition.data = p;
        disposition.len = ngx_sprintf(p, "attachment; filename=\"asistencia_"
                                      "%V_%V_%V.csv\"", &ctx->curp, &from,
                                      &to)
                          - p;

        /* the reply is a copy in the request's pool */

        return ngx_http_huella_att_send_bytes(ctx->request,
                                              &ngx_http_huella_csv_type,
                                              &disposition, (u_char *) data,
                                              len);
    }

    return ngx_http_huella_malformed(ctx);
}
