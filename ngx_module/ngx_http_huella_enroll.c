
/*
 * Employer enrollment (issue 5, docs/devices.md): the worker lookup (GET
 * /api/v1/subjects?curp= or ?nss=), the enrollment signed by an
 * enrollment device of the caller's employer (POST
 * /api/v1/subjects/{curp}/enrollment; the signature is checked before
 * encode() runs, see ngx_http_huella_signature.h), the auditor's dedup
 * cases (GET /api/v1/dedup, POST /api/v1/dedup/{case}/resolve) and
 * exceptions (GET /api/v1/exceptions, GET /api/v1/me/exceptions).
 *
 * An enrollment that matches another identity is answered 409
 * duplicate_suspect with the case id only: the other identity is never
 * in the reply.
 *
 * An enrollment whose dedup search is too big to answer within the
 * request (or sent with "Prefer: respond-async") is accepted as a queued
 * dedup job: 202 {"job_id","status":"queued","status_url"} with Location;
 * GET /api/v1/dedup-jobs/{id} follows it and, once done, carries the
 * answer the synchronous call would have given; GET /api/v1/dedup-jobs
 * lists them.  An employer_rep sees its own employer's jobs only (404
 * for others'), admins and auditors all.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"
#include "ngx_http_huella_devices.h"


#define NGX_HTTP_HUELLA_FINGERS_MAX   10


static ngx_int_t ngx_http_huella_lookup_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_lookup_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_enroll_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_enroll_fingers(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_enroll_face(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_enroll_missing(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_enroll_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_enroll_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_dedup_list_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_resolve_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_resolve_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_exceptions_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_list_reply(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static char *ngx_http_huella_field(ngx_http_huella_ctx_t *ctx, char *fmt,
    ngx_uint_t i, char *name);
static ngx_uint_t ngx_http_huella_prefer_async(ngx_http_request_t *r);
static ngx_int_t ngx_http_huella_enroll_queued(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd, ngx_str_t *job_id);
static ngx_int_t ngx_http_huella_job_scope(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_job_get_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_jobs_list_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_job_reply(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_subject_lookup = {
    HIPC_OP_SUBJECT_LOOKUP, ngx_http_huella_lookup_encode,
    ngx_http_huella_lookup_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_enroll = {
    HIPC_OP_ENROLL, ngx_http_huella_enroll_encode,
    ngx_http_huella_enroll_decode, 1, 0, ngx_http_huella_enroll_error, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_dedup_list = {
    HIPC_OP_DEDUP_LIST, ngx_http_huella_dedup_list_encode,
    ngx_http_huella_list_reply, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_dedup_resolve = {
    HIPC_OP_DEDUP_RESOLVE, ngx_http_huella_resolve_encode,
    ngx_http_huella_resolve_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_exceptions = {
    HIPC_OP_EXCEPTION_LIST, ngx_http_huella_exceptions_encode,
    ngx_http_huella_list_reply, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_my_exceptions = {
    HIPC_OP_EXCEPTION_LIST, ngx_http_huella_exceptions_encode,
    ngx_http_huella_list_reply, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_dedup_job_get = {
    HIPC_OP_DEDUP_JOB_GET, ngx_http_huella_job_get_encode,
    ngx_http_huella_job_reply, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_dedup_jobs_list = {
    HIPC_OP_DEDUP_JOB_LIST, ngx_http_huella_jobs_list_encode,
    ngx_http_huella_job_reply, 0, 0, NULL, 0
};

static ngx_str_t  ngx_http_huella_jobs_path =
    ngx_string("/api/v1/dedup-jobs/");


/* "fingers[3].data" in r->pool */

static char *
ngx_http_huella_field(ngx_http_huella_ctx_t *ctx, char *fmt, ngx_uint_t i,
    char *name)
{
    u_char  *p;

    p = ngx_pnalloc(ctx->request->pool, 64);
    if (p == NULL) {
        return NULL;
    }

    ngx_snprintf(p, 64, fmt, i, name);
    p[63] = '\0';

    return (char *) p;
}


/*
 * GET /api/v1/subjects?curp=... | ?nss=... -> huellad's document, with
 * "red_flag": true when no biometrics are on file
 */

static ngx_int_t
ngx_http_huella_lookup_encode(ngx_http_huella_ctx_t *ctx)
{
    char        *rule;
    ngx_int_t    rc;
    ngx_str_t    curp, nss;
    ngx_uint_t   i;

    rc = ngx_http_huella_query_arg(ctx, "curp", &curp);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        for (i = 0; i < curp.len; i++) {
            curp.data[i] = ngx_toupper(curp.data[i]);
        }

        rule = ngx_http_huella_curp_check(curp.data, curp.len);

        if (rule) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_curp", "curp", "%s",
                                          rule);
        }

        hipc_put(&ctx->writer, HIPC_F_CURP, curp.data, curp.len);

        return NGX_OK;
    }

    rc = ngx_http_huella_query_arg(ctx, "nss", &nss);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DONE) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "curp",
                                      "search by ?curp= or ?nss=");
    }

    rule = ngx_http_huella_nss_check(nss.data, nss.len);

    if (rule) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_nss", "nss", "%s", rule);
    }

    hipc_put(&ctx->writer, HIPC_F_NSS, nss.data, nss.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_lookup_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    size_t   i;
    json_t  *doc, *flags, *f;
    int      red;

    doc = ngx_http_huella_reply_doc(rd);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    red = 0;
    flags = json_object_get(doc, "flags");

    json_array_foreach(flags, i, f) {
        if (json_is_string(f)
            && ngx_strcmp(json_string_value(f), "no_biometrics") == 0)
        {
            red = 1;
        }
    }

    json_object_set_new(doc, "red_flag", json_boolean(red));

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}


/*
 * POST /api/v1/subjects/{curp}/enrollment, signed:
 * {"fingers":[{"position","format","data"}],"face":{"model","dim","data"},
 *  "missing":[{"position","reason"}],"employer_rfc"?}
 * -> 201 {"folio","receipt","curp"}
 */

static ngx_int_t
ngx_http_huella_enroll_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t    rc;
    ngx_str_t    rfc;
    ngx_uint_t   admin;

    rc = ngx_http_huella_employer(ctx, 1, &rfc, &admin);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->device == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_missing", NULL,
                                      "an enrollment must be signed by an "
                                      "enrollment device");
    }

    if (ctx->device->rfc.len != rfc.len
        || ngx_strncmp(ctx->device->rfc.data, rfc.data, rfc.len) != 0)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "device_employer_mismatch", NULL,
                                      "device \"%V\" belongs to another "
                                      "employer", &ctx->device->id);
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    hipc_put(&ctx->writer, HIPC_F_RFC, rfc.data, rfc.len);
    hipc_put(&ctx->writer, HIPC_F_DEVICE_ID, ctx->device->id.data,
             ctx->device->id.len);

    rc = ngx_http_huella_enroll_fingers(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_enroll_face(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_enroll_missing(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_huella_prefer_async(ctx->request)) {
        hipc_put_u32(&ctx->writer, HIPC_F_ASYNC, 1);
    }

    ngx_http_huella_put_actor(ctx);

    return NGX_OK;
}


/* "Prefer: respond-async" (RFC 7240), among other preferences */

static ngx_uint_t
ngx_http_huella_prefer_async(ngx_http_request_t *r)
{
    u_char           *p, *last, *start;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != 6
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Prefer", 6) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',' && *p != ';' && *p != ' '
                   && *p != '\t' && *p != '=')
            {
                p++;
            }

            if (p - start == 13
                && ngx_strncasecmp(start, (u_char *) "respond-async", 13)
                   == 0)
            {
                return 1;
            }

            while (p < last && *p != ',') {
                p++;
            }
        }
    }
}


static ngx_int_t
ngx_http_huella_enroll_fingers(ngx_http_huella_ctx_t *ctx)
{
    char                             *name;
    size_t                            i, at;
    json_t                           *fingers, *o;
    ngx_int_t                         rc;
    ngx_http_huella_finger_t          finger;
    ngx_http_huella_finger_fields_t   fields;

    fingers = json_object_get(ctx->body, "fingers");

    if (fingers == NULL || json_is_null(fingers)) {
        return NGX_OK;   /* huellad: no_biometrics unless some are missing */
    }

    if (!json_is_array(fingers)
        || json_array_size(fingers) > NGX_HTTP_HUELLA_FINGERS_MAX)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_fingers", "fingers",
                                      "\"fingers\" is an array of up to 10 "
                                      "templates");
    }

    json_array_foreach(fingers, i, o) {

        name = ngx_http_huella_field(ctx, "fingers[%ui]%Z", i, NULL);
        fields.format = ngx_http_huella_field(ctx, "fingers[%ui].%s%Z", i,
                                              "format");
        fields.data = ngx_http_huella_field(ctx, "fingers[%ui].%s%Z", i,
                                            "data");
        fields.position = ngx_http_huella_field(ctx, "fingers[%ui].%s%Z", i,
                                                "position");

        if (name == NULL || fields.format == NULL || fields.data == NULL
            || fields.position == NULL)
        {
            return NGX_ERROR;
        }

        if (!json_is_object(o)) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_type", name,
                                          "\"%s\" must be an object with "
                                          "position, format and data", name);
        }

        rc = ngx_http_huella_finger(ctx, o, &fields, &finger);
        if (rc != NGX_OK) {
            return rc;
        }

        if (finger.position == 0) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                          "missing_field", fields.position,
                                          "\"%s\" is required (1 right "
                                          "thumb .. 10 left little finger)",
                                          fields.position);
        }

        at = hipc_open(&ctx->writer, HIPC_F_FINGER);
        hipc_put_u32(&ctx->writer, HIPC_F_POSITION, finger.position);
        hipc_put_u32(&ctx->writer, HIPC_F_FORMAT, finger.format);
        hipc_put(&ctx->writer, HIPC_F_TEMPLATE, finger.data.data,
                 finger.data.len);
        hipc_close(&ctx->writer, at);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_enroll_face(ngx_http_huella_ctx_t *ctx)
{
    json_t  *face;

    face = json_object_get(ctx->body, "face");

    if (face == NULL || json_is_null(face)) {
        return NGX_OK;
    }

    return ngx_http_huella_face(ctx, face);
}


static ngx_int_t
ngx_http_huella_enroll_missing(ngx_http_huella_ctx_t *ctx)
{
    char       *name, *pos, *why;
    size_t      i, at;
    json_t     *missing, *o;
    ngx_int_t   rc, position;
    ngx_str_t   reason;

    missing = json_object_get(ctx->body, "missing");

    if (missing == NULL || json_is_null(missing)) {
        return NGX_OK;
    }

    if (!json_is_array(missing)
        || json_array_size(missing) > NGX_HTTP_HUELLA_FINGERS_MAX)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_missing", "missing",
                                      "\"missing\" is an array of up to 10 "
                                      "{position, reason}");
    }

    json_array_foreach(missing, i, o) {

        name = ngx_http_huella_field(ctx, "missing[%ui]%Z", i, NULL);
        pos = ngx_http_huella_field(ctx, "missing[%ui].%s%Z", i, "position");
        why = ngx_http_huella_field(ctx, "missing[%ui].%s%Z", i, "reason");

        if (name == NULL || pos == NULL || why == NULL) {
            return NGX_ERROR;
        }

        if (!json_is_object(o)) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_type", name,
                                          "\"%s\" must be an object with "
                                          "position and reason", name);
        }

        position = 0;

        rc = ngx_http_huella_integer(ctx, o, "position", pos, 1, 10,
                                     &position);
        if (rc != NGX_OK) {
            return rc;
        }

        if (position == 0) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                          "missing_field", pos,
                                          "\"%s\" is required", pos);
        }

        rc = ngx_http_huella_string(ctx, o, "reason", why, 1, &reason);
        if (rc != NGX_OK) {
            return rc;
        }

        at = hipc_open(&ctx->writer, HIPC_F_MISSING);
        hipc_put_u32(&ctx->writer, HIPC_F_POSITION, (uint32_t) position);
        hipc_put(&ctx->writer, HIPC_F_REASON, reason.data, reason.len);
        hipc_close(&ctx->writer, at);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_enroll_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_str_t  folio, receipt, curp, job_id;

    ngx_http_huella_reply_str(rd, HIPC_F_JOB_ID, &job_id);

    if (job_id.len) {
        return ngx_http_huella_enroll_queued(ctx, rd, &job_id);
    }

    ngx_http_huella_reply_str(rd, HIPC_F_FOLIO, &folio);
    ngx_http_huella_reply_str(rd, HIPC_F_RECEIPT, &receipt);
    ngx_http_huella_reply_str(rd, HIPC_F_CURP, &curp);

    if (folio.len == 0 || receipt.len == 0) {
        return ngx_http_huella_malformed(ctx);
    }

    if (curp.len == 0) {
        curp = ctx->curp;
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED,
               json_pack("{s:s%,s:s%,s:s%,s:s%}",
                         "folio", folio.data, folio.len,
                         "receipt", receipt.data, receipt.len,
                         "curp", curp.data, curp.len,
                         "device_id", ctx->device->id.data,
                         ctx->device->id.len));
}


/*
 * huellad's refusals of an enrollment: the per-finger quality reasons
 * ("fingers":[{"index","position","code","message","field"}], the field
 * of the first being the error's), the dedup case id of a
 * duplicate_suspect, warnings (exception_opened); else the generic map
 */

static ngx_int_t
ngx_http_huella_enroll_error(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    char                *f;
    json_t              *extra, *list, *warnings, *one;
    uint16_t             tag, t;
    uint32_t             len, l, index, position;
    ngx_str_t            code, message, field, case_id, fcode, fmsg;
    ngx_str_t            job_id;
    ngx_uint_t           status;
    const uint8_t       *data, *d;
    struct hipc_reader   sub;

    ngx_str_set(&code, "");
    ngx_str_set(&message, "");
    ngx_str_set(&case_id, "");
    ngx_str_set(&job_id, "");
    ngx_str_null(&field);

    extra = json_object();
    list = json_array();
    warnings = json_array();

    if (extra == NULL || list == NULL || warnings == NULL) {
        json_decref(extra);
        json_decref(list);
        json_decref(warnings);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        switch (tag) {

        case HIPC_F_ERR_CODE:
            code.data = (u_char *) data;
            code.len = len;
            break;

        case HIPC_F_MESSAGE:
            message.data = (u_char *) data;
            message.len = len;
            break;

        case HIPC_F_FIELD:
            field.data = (u_char *) data;
            field.len = len;
            break;

        case HIPC_F_CASE_ID:
            case_id.data = (u_char *) data;
            case_id.len = len;
            break;

        case HIPC_F_JOB_ID:
            job_id.data = (u_char *) data;
            job_id.len = len;
            break;

        case HIPC_F_WARNING:
            json_array_append_new(warnings,
                                  json_stringn((char *) data, len));
            break;

        case HIPC_F_FINGER_ERROR:
            hipc_reader_init(&sub, data, len);
            index = 0;
            position = 0;
            ngx_str_set(&fcode, "");
            ngx_str_set(&fmsg, "");

            while (hipc_next(&sub, &t, &d, &l) == 1) {
                if (t == HIPC_F_INDEX) {
                    (void) hipc_get_u32(d, l, &index);

                } else if (t == HIPC_F_POSITION) {
                    (void) hipc_get_u32(d, l, &position);

                } else if (t == HIPC_F_ERR_CODE) {
                    fcode.data = (u_char *) d;
                    fcode.len = l;

                } else if (t == HIPC_F_MESSAGE) {
                    fmsg.data = (u_char *) d;
                    fmsg.len = l;
                }
            }

            f = ngx_http_huella_field(ctx, "fingers[%ui].%s%Z",
                                      (ngx_uint_t) index, "data");
            if (f == NULL) {
                json_decref(extra);
                json_decref(list);
                json_decref(warnings);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            one = json_pack("{s:i,s:i,s:s%,s:s%,s:s}",
                            "index", (json_int_t) index,
                            "position", (json_int_t) position,
                            "code", fcode.data, fcode.len,
                            "message", fmsg.data, fmsg.len,
                            "field", f);
            if (one) {
                json_array_append_new(list, one);
            }

            break;
        }
    }

    if (json_array_size(list)) {
        json_object_set_new(extra, "fingers", list);

    } else {
        json_decref(list);
    }

    if (json_array_size(warnings)) {
        json_object_set_new(extra, "warnings", warnings);

    } else {
        json_decref(warnings);
    }

    if (case_id.len) {
        json_object_set_new(extra, "case_id",
                            json_stringn((char *) case_id.data,
                                         case_id.len));
    }

    if (job_id.len) {
        f = ngx_pnalloc(ctx->request->pool,
                        ngx_http_huella_jobs_path.len + job_id.len + 1);
        if (f == NULL) {
            json_decref(extra);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_sprintf((u_char *) f, "%V%V", &ngx_http_huella_jobs_path,
                     &job_id) = '\0';

        json_object_set_new(extra, "job_id",
                            json_stringn((char *) job_id.data, job_id.len));
        json_object_set_new(extra, "status_url", json_string(f));
    }

    /* huellad names a finger "fingers[i]": the template is at fault */

    if (field.len > 9 && ngx_strncmp(field.data, "fingers[", 8) == 0
        && field.data[field.len - 1] == ']')
    {
        f = ngx_pnalloc(ctx->request->pool, field.len + 5);
        if (f == NULL) {
            json_decref(extra);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(f, field.data, field.len);
        ngx_memcpy(f + field.len, ".data", 5);
        field.data = (u_char *) f;
        field.len += 5;
    }

    switch (ctx->call.status) {
    case HIPC_ST_INVALID:
        status = NGX_HTTP_UNPROCESSABLE_ENTITY;
        break;
    case HIPC_ST_CONFLICT:
        status = NGX_HTTP_CONFLICT;
        break;
    case HIPC_ST_UNAUTHORIZED:
        status = NGX_HTTP_UNAUTHORIZED;
        break;
    case HIPC_ST_FORBIDDEN:
        status = NGX_HTTP_FORBIDDEN;
        break;
    case HIPC_ST_NOT_FOUND:
        status = NGX_HTTP_NOT_FOUND;
        break;
    default:
        json_decref(extra);
        return NGX_DECLINED;     /* the generic mapping */
    }

    if (code.len == 0) {
        json_decref(extra);
        return NGX_DECLINED;
    }

    return ngx_http_huella_send_error_extra(ctx->request, status, &code,
                                            &message, &field, extra);
}


/* GET /api/v1/dedup[?status=open|confirmed|false_alarm] */

static ngx_int_t
ngx_http_huella_dedup_list_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  state;

    rc = ngx_http_huella_query_arg(ctx, "status", &state);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && state.len) {
        if (!(state.len == 4 && ngx_strncmp(state.data, "open", 4) == 0)
            && !(state.len == 9
                 && ngx_strncmp(state.data, "confirmed", 9) == 0)
            && !(state.len == 11
                 && ngx_strncmp(state.data, "false_alarm", 11) == 0))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_status", "status",
                                          "status is open, confirmed or "
                                          "false_alarm");
        }

        hipc_put(&ctx->writer, HIPC_F_STATE, state.data, state.len);
    }

    return NGX_OK;
}


/* {"cases":[...]} or {"exceptions":[...]} */

static ngx_int_t
ngx_http_huella_list_reply(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t  *list;

    list = ngx_http_huella_reply_doc(rd);

    if (list == NULL || !json_is_array(list)) {
        json_decref(list);
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
               json_pack("{s:o}", ctx->endpoint == &ngx_http_huella_dedup_list
                                  ? "cases" : "exceptions", list));
}


/* POST /api/v1/dedup/{case}/resolve {"decision":"confirmed"|"false_alarm"} */

static ngx_int_t
ngx_http_huella_resolve_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  decision;

    rc = ngx_http_huella_path_token(ctx, "case_id");
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "decision", "decision", 1,
                                &decision);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(decision.len == 9 && ngx_strncmp(decision.data, "confirmed", 9) == 0)
        && !(decision.len == 11
             && ngx_strncmp(decision.data, "false_alarm", 11) == 0))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_decision", "decision",
                                      "decision is \"confirmed\" or "
                                      "\"false_alarm\"");
    }

    hipc_put(&ctx->writer, HIPC_F_CASE_ID, ctx->path_id.data,
             ctx->path_id.len);
    hipc_put(&ctx->writer, HIPC_F_STATE, decision.data, decision.len);

    ngx_http_huella_put_actor(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_resolve_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_str_t  id, state, folio, receipt;

    ngx_http_huella_reply_str(rd, HIPC_F_CASE_ID, &id);
    ngx_http_huella_reply_str(rd, HIPC_F_STATE, &state);
    ngx_http_huella_reply_str(rd, HIPC_F_FOLIO, &folio);
    ngx_http_huella_reply_str(rd, HIPC_F_RECEIPT, &receipt);

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
               json_pack("{s:s%,s:s%,s:s%,s:s%}",
                         "case_id", id.data, id.len,
                         "status", state.data, state.len,
                         "folio", folio.data, folio.len,
                         "receipt", receipt.data, receipt.len));
}


/*
 * GET /api/v1/exceptions[?curp=] (admins, auditors); GET
 * /api/v1/me/exceptions: the caller's own
 */

static ngx_int_t
ngx_http_huella_exceptions_encode(ngx_http_huella_ctx_t *ctx)
{
    char                        *rule;
    ngx_int_t                    rc;
    ngx_str_t                    curp;
    ngx_uint_t                   i;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;

    if (ctx->endpoint == &ngx_http_huella_my_exceptions) {
        curp = id->f[NGX_HTTP_HUELLA_ID_CURP];

        if (curp.len == 0) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                          "not_a_person", NULL,
                                          "a service account has no "
                                          "exceptions of its own");
        }

        hipc_put(&ctx->writer, HIPC_F_CURP, curp.data, curp.len);

        return NGX_OK;
    }

    rc = ngx_http_huella_query_arg(ctx, "curp", &curp);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK) {
        for (i = 0; i < curp.len; i++) {
            curp.data[i] = ngx_toupper(curp.data[i]);
        }

        rule = ngx_http_huella_curp_check(curp.data, curp.len);

        if (rule) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_curp", "curp", "%s",
                                          rule);
        }

        hipc_put(&ctx->writer, HIPC_F_CURP, curp.data, curp.len);
    }

    return NGX_OK;
}


/*
 * 202 {"job_id","status":"queued","status_url","queue_position",
 * "progress":{"compared":0,"total"},"curp"} with Location: status_url
 */

static ngx_int_t
ngx_http_huella_enroll_queued(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd, ngx_str_t *job_id)
{
    u_char              *url;
    uint16_t             tag;
    uint32_t             len, position;
    uint64_t             total;
    ngx_str_t            value, pref;
    const uint8_t       *data;
    struct hipc_reader   r;

    position = 0;
    total = 0;
    r = *rd;
    r.pos = 0;

    while (hipc_next(&r, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_QUEUE_POSITION) {
            (void) hipc_get_u32(data, len, &position);

        } else if (tag == HIPC_F_COMPARISONS) {
            (void) hipc_get_u64(data, len, &total);
        }
    }

    url = ngx_pnalloc(ctx->request->pool,
                      ngx_http_huella_jobs_path.len + job_id->len);
    if (url == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    value.data = url;
    value.len = ngx_sprintf(url, "%V%V", &ngx_http_huella_jobs_path, job_id)
                - url;

    if (ngx_http_huella_add_header(ctx->request, "Location", &value)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_huella_prefer_async(ctx->request)) {
        ngx_str_set(&pref, "respond-async");

        if (ngx_http_huella_add_header(ctx->request, "Preference-Applied",
                                       &pref)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_ACCEPTED,
               json_pack("{s:s%,s:s,s:s%,s:I,s:{s:I,s:I},s:s%}",
                         "job_id", job_id->data, job_id->len,
                         "status", "queued",
                         "status_url", value.data, value.len,
                         "queue_position", (json_int_t) position,
                         "progress", "compared", (json_int_t) 0,
                         "total", (json_int_t) total,
                         "curp", ctx->curp.data, ctx->curp.len));
}


/*
 * Whose jobs the caller sees: admins and auditors all, an employer_rep
 * its own employer's (RFC sent to huellad, which answers 404 for others)
 */

static ngx_int_t
ngx_http_huella_job_scope(ngx_http_huella_ctx_t *ctx)
{
    ngx_str_t                   *rfc;
    ngx_http_huella_identity_t  *id;

    id = ctx->identity;

    if (id->roles & (NGX_HTTP_HUELLA_ADMIN|NGX_HTTP_HUELLA_AUDITOR)) {
        return NGX_OK;
    }

    rfc = &id->f[NGX_HTTP_HUELLA_ID_RFC];

    if (rfc->len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                      "no_employer", NULL,
                                      "this account is not bound to an "
                                      "employer's RFC");
    }

    hipc_put(&ctx->writer, HIPC_F_RFC, rfc->data, rfc->len);

    return NGX_OK;
}


/* GET /api/v1/dedup-jobs/{id} */

static ngx_int_t
ngx_http_huella_job_get_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_huella_path_token(ctx, "job_id");
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_JOB_ID, ctx->path_id.data,
             ctx->path_id.len);

    return ngx_http_huella_job_scope(ctx);
}


/* GET /api/v1/dedup-jobs[?status=queued|running|done|failed] */

static ngx_int_t
ngx_http_huella_jobs_list_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  state;

    rc = ngx_http_huella_query_arg(ctx, "status", &state);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_OK && state.len) {
        if (!(state.len == 6 && ngx_strncmp(state.data, "queued", 6) == 0)
            && !(state.len == 7
                 && ngx_strncmp(state.data, "running", 7) == 0)
            && !(state.len == 4 && ngx_strncmp(state.data, "done", 4) == 0)
            && !(state.len == 6
                 && ngx_strncmp(state.data, "failed", 6) == 0))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_status", "status",
                                          "status is queued, running, done "
                                          "or failed");
        }

        hipc_put(&ctx->writer, HIPC_F_STATE, state.data, state.len);
    }

    return ngx_http_huella_job_scope(ctx);
}


/* a job's document (with "status_url"), or {"jobs":[...]} */

static ngx_int_t
ngx_http_huella_job_reply(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char      *url;
    size_t       i, n;
    json_t      *doc, *job, *id;
    ngx_uint_t   list;

    list = ctx->endpoint == &ngx_http_huella_dedup_jobs_list;
    doc = ngx_http_huella_reply_doc(rd);

    if (doc == NULL || (list ? !json_is_array(doc) : !json_is_object(doc))) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    n = list ? json_array_size(doc) : 1;

    for (i = 0; i < n; i++) {
        job = list ? json_array_get(doc, i) : doc;
        id = json_object_get(job, "job_id");

        if (!json_is_string(id)) {
            continue;
        }

        url = ngx_pnalloc(ctx->request->pool,
                          ngx_http_huella_jobs_path.len
                          + json_string_length(id) + 1);
        if (url == NULL) {
            json_decref(doc);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ngx_sprintf(url, "%V%s", &ngx_http_huella_jobs_path,
                     json_string_value(id)) = '\0';

        json_object_set_new(job, "status_url", json_string((char *) url));
    }

    if (list) {
        doc = json_pack("{s:o}", "jobs", doc);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}
