
/*
 * The API operations: for each endpoint, encode() checks the JSON request
 * and writes the matcher message (TLV, huella_ipc.h), decode() turns the
 * matcher's successful reply into the JSON response.  Input rules: a
 * missing required field is 400 missing_field, a present but invalid one
 * is 422 naming the field; identifiers are checked here before anything
 * reaches the matcher.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_NAME_MAX        200
#define NGX_HTTP_HUELLA_CANDIDATES_MAX  100
#define NGX_HTTP_HUELLA_CANDIDATES_DEF  10


typedef struct {
    char                      *format;
    char                      *data;
    char                      *position;
} ngx_http_huella_finger_fields_t;


typedef struct {
    uint32_t                   format;
    ngx_uint_t                 position;
    ngx_str_t                  data;
} ngx_http_huella_finger_t;


static ngx_int_t ngx_http_huella_ping_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_ping_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_create_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_create_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_curp_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_get_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_deleted_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_put_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_put_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_finger_delete_encode(
    ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_verify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_verify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_identify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_identify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);

static json_t *ngx_http_huella_subject_doc(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static json_t *ngx_http_huella_finger_doc(const uint8_t *data, uint32_t len);
static json_t *ngx_http_huella_candidate_doc(const uint8_t *data,
    uint32_t len);
static json_t *ngx_http_huella_format_json(uint32_t format);
static ngx_int_t ngx_http_huella_malformed(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_created(ngx_http_huella_ctx_t *ctx,
    json_t *doc, ngx_uint_t position);

static ngx_int_t ngx_http_huella_string(ngx_http_huella_ctx_t *ctx,
    json_t *obj, char *key, char *field, ngx_uint_t required,
    ngx_str_t *out);
static ngx_int_t ngx_http_huella_integer(ngx_http_huella_ctx_t *ctx,
    json_t *obj, char *key, char *field, ngx_int_t min, ngx_int_t max,
    ngx_int_t *out);
static ngx_int_t ngx_http_huella_body_curp(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_finger(ngx_http_huella_ctx_t *ctx,
    json_t *obj, ngx_http_huella_finger_fields_t *fields,
    ngx_http_huella_finger_t *finger);
static ngx_int_t ngx_http_huella_nested_finger(ngx_http_huella_ctx_t *ctx,
    ngx_http_huella_finger_t *finger);


ngx_http_huella_endpoint_t  ngx_http_huella_ping = {
    HIPC_OP_PING, ngx_http_huella_ping_encode, ngx_http_huella_ping_decode,
    0, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_subject_create = {
    HIPC_OP_SUBJECT_CREATE, ngx_http_huella_create_encode,
    ngx_http_huella_create_decode, 1, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_subject_get = {
    HIPC_OP_SUBJECT_GET, ngx_http_huella_curp_encode,
    ngx_http_huella_get_decode, 0, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_subject_delete = {
    HIPC_OP_SUBJECT_DELETE, ngx_http_huella_curp_encode,
    ngx_http_huella_deleted_decode, 0, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_finger_put = {
    HIPC_OP_FINGER_PUT, ngx_http_huella_put_encode,
    ngx_http_huella_put_decode, 1, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_finger_delete = {
    HIPC_OP_FINGER_DELETE, ngx_http_huella_finger_delete_encode,
    ngx_http_huella_deleted_decode, 0, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_verify = {
    HIPC_OP_VERIFY, ngx_http_huella_verify_encode,
    ngx_http_huella_verify_decode, 1, 1
};

ngx_http_huella_endpoint_t  ngx_http_huella_identify = {
    HIPC_OP_IDENTIFY, ngx_http_huella_identify_encode,
    ngx_http_huella_identify_decode, 1, 1
};


static ngx_http_huella_finger_fields_t  ngx_http_huella_top_fields = {
    "format", "data", "position"
};

static ngx_http_huella_finger_fields_t  ngx_http_huella_nested_fields = {
    "finger.format", "finger.data", "finger.position"
};


static struct {
    char                      *name;
    uint32_t                   format;
} ngx_http_huella_formats[] = {
    { "iso19794-2:2005", HIPC_FMT_ISO19794_2_2005 },
    { "ansi378-2004", HIPC_FMT_ANSI378_2004 },
    { NULL, 0 }
};


/* GET /healthz */

static ngx_int_t
ngx_http_huella_ping_encode(ngx_http_huella_ctx_t *ctx)
{
    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_ping_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    int             rc;
    json_t         *doc;
    uint16_t        tag;
    uint32_t        len;
    uint64_t        v;
    const uint8_t  *data;

    doc = json_pack("{s:s,s:s}", "status", "ok", "matcher", "up");
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while ((rc = hipc_next(rd, &tag, &data, &len)) == 1) {

        if (hipc_get_u64(data, len, &v) != 0) {
            continue;
        }

        switch (tag) {

        case HIPC_F_SUBJECTS:
            json_object_set_new(doc, "subjects", json_integer(v));
            break;

        case HIPC_F_TEMPLATES:
            json_object_set_new(doc, "templates", json_integer(v));
            break;

        case HIPC_F_PID:
            json_object_set_new(doc, "matcher_pid", json_integer(v));
            break;

        case HIPC_F_UPTIME:
            json_object_set_new(doc, "uptime", json_integer(v));
            break;
        }
    }

    if (rc != 0) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    json_object_set_new(doc, "worker_pid", json_integer(ngx_pid));

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}


/* POST /api/v1/subjects */

static ngx_int_t
ngx_http_huella_create_encode(ngx_http_huella_ctx_t *ctx)
{
    char       *rule;
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   nss, name;

    rc = ngx_http_huella_body_curp(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "nss", "nss", 0, &nss);
    if (rc != NGX_OK) {
        return rc;
    }

    if (nss.data) {
        rule = ngx_http_huella_nss_check(nss.data, nss.len);

        if (rule) {
            return ngx_http_huella_reject(ctx,
                                          NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_nss", "nss", "%s", rule);
        }
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "name", "name", 1, &name);
    if (rc != NGX_OK) {
        return rc;
    }

    if (name.len == 0 || name.len > NGX_HTTP_HUELLA_NAME_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_name", "name",
                                      "name must be 1 to %d bytes of UTF-8",
                                      NGX_HTTP_HUELLA_NAME_MAX);
    }

    for (i = 0; i < name.len; i++) {
        if (name.data[i] < 0x20 || name.data[i] == 0x7f) {
            return ngx_http_huella_reject(ctx,
                                          NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_name", "name",
                                          "name contains a control "
                                          "character at byte %uz", i);
        }
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);

    if (nss.data) {
        hipc_put(&ctx->writer, HIPC_F_NSS, nss.data, nss.len);
    }

    hipc_put(&ctx->writer, HIPC_F_NAME, name.data, name.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_create_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t  *doc;

    doc = ngx_http_huella_subject_doc(ctx, rd);
    if (doc == NULL) {
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_created(ctx, doc, 0);
}


/* GET and DELETE /api/v1/subjects/{curp} */

static ngx_int_t
ngx_http_huella_curp_encode(ngx_http_huella_ctx_t *ctx)
{
    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_get_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t  *doc;

    doc = ngx_http_huella_subject_doc(ctx, rd);
    if (doc == NULL) {
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}


static ngx_int_t
ngx_http_huella_deleted_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    return ngx_http_huella_send_empty(ctx->request, NGX_HTTP_NO_CONTENT);
}


/* PUT and DELETE /api/v1/subjects/{curp}/fingers/{position} */

static ngx_int_t
ngx_http_huella_put_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_huella_finger_t  finger;

    rc = ngx_http_huella_finger(ctx, ctx->body, &ngx_http_huella_top_fields,
                                &finger);
    if (rc != NGX_OK) {
        return rc;
    }

    if (finger.position && finger.position != ctx->position) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_position", "position",
                                      "position %ui in the body differs "
                                      "from %ui in the path",
                                      finger.position, ctx->position);
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    hipc_put_u32(&ctx->writer, HIPC_F_POSITION, (uint32_t) ctx->position);
    hipc_put_u32(&ctx->writer, HIPC_F_FORMAT, finger.format);
    hipc_put(&ctx->writer, HIPC_F_TEMPLATE, finger.data.data,
             finger.data.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_put_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    int             rc;
    json_t         *doc, *format;
    uint16_t        tag;
    uint32_t        len, v;
    const uint8_t  *data;

    format = json_object_get(ctx->body, "format");

    doc = json_pack("{s:s%,s:i,s:O}",
                    "curp", ctx->curp.data, ctx->curp.len,
                    "position", (int) ctx->position,
                    "format", format);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while ((rc = hipc_next(rd, &tag, &data, &len)) == 1) {

        if (tag != HIPC_F_MINUTIAE && tag != HIPC_F_QUALITY) {
            continue;
        }

        if (hipc_get_u32(data, len, &v) != 0) {
            rc = -1;
            break;
        }

        json_object_set_new(doc, tag == HIPC_F_MINUTIAE ? "minutiae"
                                                        : "quality",
                            json_integer(v));
    }

    if (rc != 0) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_created(ctx, doc, ctx->position);
}


static ngx_int_t
ngx_http_huella_finger_delete_encode(ngx_http_huella_ctx_t *ctx)
{
    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);
    hipc_put_u32(&ctx->writer, HIPC_F_POSITION, (uint32_t) ctx->position);

    return NGX_OK;
}


/* POST /api/v1/verify */

static ngx_int_t
ngx_http_huella_verify_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_http_huella_finger_t  finger;

    rc = ngx_http_huella_body_curp(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_nested_finger(ctx, &finger);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);

    if (finger.position) {
        hipc_put_u32(&ctx->writer, HIPC_F_POSITION,
                     (uint32_t) finger.position);
    }

    hipc_put_u32(&ctx->writer, HIPC_F_FORMAT, finger.format);
    hipc_put(&ctx->writer, HIPC_F_TEMPLATE, finger.data.data,
             finger.data.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_verify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    int             rc;
    double          d;
    json_t         *doc;
    uint16_t        tag;
    uint32_t        len, v;
    const uint8_t  *data;

    doc = json_pack("{s:s%}", "curp", ctx->curp.data, ctx->curp.len);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while ((rc = hipc_next(rd, &tag, &data, &len)) == 1) {

        switch (tag) {

        case HIPC_F_MATCH:
            if (hipc_get_u32(data, len, &v) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, "match", json_boolean(v));
            break;

        case HIPC_F_POSITION:
            if (hipc_get_u32(data, len, &v) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, "position", json_integer(v));
            break;

        case HIPC_F_SCORE:
        case HIPC_F_THRESHOLD:
            if (hipc_get_f64(data, len, &d) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, tag == HIPC_F_SCORE ? "score"
                                                         : "threshold",
                                json_real(d));
            break;
        }
    }

    if (rc != 0 || json_object_get(doc, "match") == NULL) {
        goto malformed;
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);

malformed:

    json_decref(doc);

    return ngx_http_huella_malformed(ctx);
}


/* POST /api/v1/identify */

static ngx_int_t
ngx_http_huella_identify_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t                 rc, max;
    ngx_http_huella_finger_t  finger;

    rc = ngx_http_huella_nested_finger(ctx, &finger);
    if (rc != NGX_OK) {
        return rc;
    }

    max = NGX_HTTP_HUELLA_CANDIDATES_DEF;

    rc = ngx_http_huella_integer(ctx, ctx->body, "max_candidates",
                                 "max_candidates", 1,
                                 NGX_HTTP_HUELLA_CANDIDATES_MAX, &max);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put_u32(&ctx->writer, HIPC_F_FORMAT, finger.format);
    hipc_put(&ctx->writer, HIPC_F_TEMPLATE, finger.data.data,
             finger.data.len);
    hipc_put_u32(&ctx->writer, HIPC_F_MAX_CANDIDATES, (uint32_t) max);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_identify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    int             rc;
    double          d;
    json_t         *doc, *list, *cand;
    uint16_t        tag;
    uint32_t        len;
    uint64_t        v;
    const uint8_t  *data;

    list = json_array();
    doc = json_pack("{s:o}", "candidates", list);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while ((rc = hipc_next(rd, &tag, &data, &len)) == 1) {

        switch (tag) {

        case HIPC_F_CANDIDATE:
            cand = ngx_http_huella_candidate_doc(data, len);
            if (cand == NULL) {
                goto malformed;
            }

            json_array_append_new(list, cand);
            break;

        case HIPC_F_SEARCHED:
            if (hipc_get_u64(data, len, &v) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, "searched", json_integer(v));
            break;

        case HIPC_F_THRESHOLD:
            if (hipc_get_f64(data, len, &d) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, "threshold", json_real(d));
            break;
        }
    }

    if (rc != 0) {
        goto malformed;
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);

malformed:

    json_decref(doc);

    return ngx_http_huella_malformed(ctx);
}


/* reply documents */

static json_t *
ngx_http_huella_subject_doc(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    int             rc;
    u_char          date[NGX_HTTP_HUELLA_ISO8601_LEN];
    json_t         *doc, *fingers, *finger, *field;
    uint16_t        tag;
    uint32_t        len;
    uint64_t        v;
    const uint8_t  *data;

    fingers = json_array();
    doc = json_pack("{s:o}", "fingers", fingers);
    if (doc == NULL) {
        return NULL;
    }

    while ((rc = hipc_next(rd, &tag, &data, &len)) == 1) {

        switch (tag) {

        case HIPC_F_CURP:
            json_object_set_new(doc, "curp", json_stringn((char *) data, len));
            break;

        case HIPC_F_NSS:
            json_object_set_new(doc, "nss",
                                len ? json_stringn((char *) data, len)
                                    : json_null());
            break;

        case HIPC_F_NAME:
            json_object_set_new(doc, "name", json_stringn((char *) data, len));
            break;

        case HIPC_F_CREATED:
            if (hipc_get_u64(data, len, &v) != 0) {
                goto malformed;
            }

            (void) ngx_http_huella_iso8601(date, (time_t) v);
            json_object_set_new(doc, "created_at",
                                json_stringn((char *) date, sizeof(date)));
            break;

        case HIPC_F_FINGER:
            finger = ngx_http_huella_finger_doc(data, len);
            if (finger == NULL) {
                goto malformed;
            }

            json_array_append_new(fingers, finger);
            break;
        }
    }

    if (rc != 0) {
        goto malformed;
    }

    /* a reply that does not echo the subject is completed from the request */

    if (json_object_get(doc, "curp") == NULL) {
        json_object_set_new(doc, "curp",
                            json_stringn((char *) ctx->curp.data,
                                         ctx->curp.len));
    }

    field = ctx->body ? json_object_get(ctx->body, "name") : NULL;

    if (json_object_get(doc, "name") == NULL && field) {
        json_object_set(doc, "name", field);
    }

    field = ctx->body ? json_object_get(ctx->body, "nss") : NULL;

    if (json_object_get(doc, "nss") == NULL) {
        json_object_set_new(doc, "nss",
                            field ? json_copy(field) : json_null());
    }

    if (json_object_get(doc, "created_at") == NULL) {
        (void) ngx_http_huella_iso8601(date, ngx_time());
        json_object_set_new(doc, "created_at",
                            json_stringn((char *) date, sizeof(date)));
    }

    /* "fingers" last: jansson keeps the insertion order */

    json_incref(fingers);
    json_object_del(doc, "fingers");
    json_object_set_new(doc, "fingers", fingers);

    return doc;

malformed:

    json_decref(doc);

    return NULL;
}


static json_t *
ngx_http_huella_finger_doc(const uint8_t *data, uint32_t len)
{
    int                 rc;
    json_t             *doc;
    uint16_t            tag;
    uint32_t            flen, v;
    const uint8_t      *fdata;
    struct hipc_reader  rd;

    doc = json_object();
    if (doc == NULL) {
        return NULL;
    }

    hipc_reader_init(&rd, data, len);

    while ((rc = hipc_next(&rd, &tag, &fdata, &flen)) == 1) {

        if (hipc_get_u32(fdata, flen, &v) != 0) {
            continue;
        }

        switch (tag) {

        case HIPC_F_POSITION:
            json_object_set_new(doc, "position", json_integer(v));
            break;

        case HIPC_F_FORMAT:
            json_object_set_new(doc, "format",
                                ngx_http_huella_format_json(v));
            break;

        case HIPC_F_MINUTIAE:
            json_object_set_new(doc, "minutiae", json_integer(v));
            break;

        case HIPC_F_QUALITY:
            json_object_set_new(doc, "quality", json_integer(v));
            break;
        }
    }

    if (rc != 0 || json_object_get(doc, "position") == NULL) {
        json_decref(doc);
        return NULL;
    }

    return doc;
}


static json_t *
ngx_http_huella_candidate_doc(const uint8_t *data, uint32_t len)
{
    int                 rc;
    double              d;
    json_t             *doc;
    uint16_t            tag;
    uint32_t            flen, v;
    const uint8_t      *fdata;
    struct hipc_reader  rd;

    doc = json_object();
    if (doc == NULL) {
        return NULL;
    }

    hipc_reader_init(&rd, data, len);

    while ((rc = hipc_next(&rd, &tag, &fdata, &flen)) == 1) {

        switch (tag) {

        case HIPC_F_CURP:
            json_object_set_new(doc, "curp",
                                json_stringn((char *) fdata, flen));
            break;

        case HIPC_F_POSITION:
            if (hipc_get_u32(fdata, flen, &v) == 0) {
                json_object_set_new(doc, "position", json_integer(v));
            }
            break;

        case HIPC_F_SCORE:
            if (hipc_get_f64(fdata, flen, &d) == 0) {
                json_object_set_new(doc, "score", json_real(d));
            }
            break;
        }
    }

    if (rc != 0 || json_object_get(doc, "curp") == NULL) {
        json_decref(doc);
        return NULL;
    }

    return doc;
}


static json_t *
ngx_http_huella_format_json(uint32_t format)
{
    ngx_uint_t  i;

    for (i = 0; ngx_http_huella_formats[i].name; i++) {
        if (ngx_http_huella_formats[i].format == format) {
            return json_string(ngx_http_huella_formats[i].name);
        }
    }

    return json_integer(format);
}


static ngx_int_t
ngx_http_huella_malformed(ngx_http_huella_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "huella: malformed reply to op %ui from the matcher",
                  ctx->endpoint->op);

    return ngx_http_huella_reject(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal_error", NULL,
                                  "the matcher sent a malformed reply");
}


static ngx_int_t
ngx_http_huella_created(ngx_http_huella_ctx_t *ctx, json_t *doc,
    ngx_uint_t position)
{
    u_char     *p;
    ngx_str_t   location;

    p = ngx_pnalloc(ctx->request->pool,
                    sizeof("/api/v1/subjects//fingers/10") + ctx->curp.len);
    if (p == NULL) {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    location.data = p;

    p = ngx_sprintf(p, "/api/v1/subjects/%V", &ctx->curp);

    if (position) {
        p = ngx_sprintf(p, "/fingers/%ui", position);
    }

    location.len = p - location.data;

    if (ngx_http_huella_add_header(ctx->request, "Location", &location)
        != NGX_OK)
    {
        json_decref(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED, doc);
}


/* request fields */

static ngx_int_t
ngx_http_huella_string(ngx_http_huella_ctx_t *ctx, json_t *obj, char *key,
    char *field, ngx_uint_t required, ngx_str_t *out)
{
    json_t  *v;

    ngx_str_null(out);

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        if (!required) {
            return NGX_OK;
        }

        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", field,
                                      "\"%s\" is required", field);
    }

    if (!json_is_string(v)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", field,
                                      "\"%s\" must be a string", field);
    }

    out->data = (u_char *) json_string_value(v);
    out->len = json_string_length(v);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_integer(ngx_http_huella_ctx_t *ctx, json_t *obj, char *key,
    char *field, ngx_int_t min, ngx_int_t max, ngx_int_t *out)
{
    json_t      *v;
    json_int_t   n;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_integer(v)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", field,
                                      "\"%s\" must be an integer", field);
    }

    n = json_integer_value(v);

    if (n < min || n > max) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "out_of_range", field,
                                      "\"%s\" must be from %i to %i",
                                      field, min, max);
    }

    *out = (ngx_int_t) n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_body_curp(ngx_http_huella_ctx_t *ctx)
{
    char       *rule;
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   curp;

    rc = ngx_http_huella_string(ctx, ctx->body, "curp", "curp", 1, &curp);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->curp.len = ngx_min(curp.len, NGX_HTTP_HUELLA_CURP_LEN + 1);
    ctx->curp.data = ngx_pnalloc(ctx->request->pool, ctx->curp.len);
    if (ctx->curp.data == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < ctx->curp.len; i++) {
        ctx->curp.data[i] = ngx_toupper(curp.data[i]);
    }

    rule = ngx_http_huella_curp_check(ctx->curp.data, ctx->curp.len);

    if (rule) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_curp", "curp", "%s", rule);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_nested_finger(ngx_http_huella_ctx_t *ctx,
    ngx_http_huella_finger_t *finger)
{
    json_t  *obj;

    obj = json_object_get(ctx->body, "finger");

    if (obj == NULL || json_is_null(obj)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "finger",
                                      "\"finger\" is required");
    }

    if (!json_is_object(obj)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", "finger",
                                      "\"finger\" must be an object with "
                                      "format and data");
    }

    return ngx_http_huella_finger(ctx, obj, &ngx_http_huella_nested_fields,
                                  finger);
}


static ngx_int_t
ngx_http_huella_finger(ngx_http_huella_ctx_t *ctx, json_t *obj,
    ngx_http_huella_finger_fields_t *fields, ngx_http_huella_finger_t *finger)
{
    ngx_int_t   rc, position;
    ngx_str_t   format, data, err;
    ngx_uint_t  i;

    ngx_memzero(finger, sizeof(ngx_http_huella_finger_t));

    rc = ngx_http_huella_string(ctx, obj, "format", fields->format, 1,
                                &format);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; ngx_http_huella_formats[i].name; i++) {
        if (format.len == ngx_strlen(ngx_http_huella_formats[i].name)
            && ngx_strncmp(format.data, ngx_http_huella_formats[i].name,
                           format.len) == 0)
        {
            finger->format = ngx_http_huella_formats[i].format;
            break;
        }
    }

    if (finger->format == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "unsupported_format", fields->format,
                                      "format must be \"iso19794-2:2005\" "
                                      "or \"ansi378-2004\"");
    }

    position = 0;

    rc = ngx_http_huella_integer(ctx, obj, "position", fields->position,
                                 1, 10, &position);
    if (rc != NGX_OK) {
        return rc;
    }

    finger->position = position;

    rc = ngx_http_huella_string(ctx, obj, "data", fields->data, 1, &data);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_base64_decode(ctx->request->pool, &data,
                                       &finger->data, &err);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_base64", fields->data,
                                      "%V", &err);
    }

    if (finger->data.len > HIPC_PAYLOAD_MAX - 1024) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "template_too_large", fields->data,
                                      "a template of %uz bytes exceeds the "
                                      "limit of %uz bytes", finger->data.len,
                                      (size_t) (HIPC_PAYLOAD_MAX - 1024));
    }

    return NGX_OK;
}
