
/*
 * Subjects and their fingers: create, read and delete a subject, enroll
 * and remove a finger's template.  encode() checks the JSON request and
 * writes the matcher message; decode() renders the matcher's reply.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_NAME_MAX  200


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
static json_t *ngx_http_huella_subject_doc(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static json_t *ngx_http_huella_finger_doc(const uint8_t *data, uint32_t len);
static ngx_int_t ngx_http_huella_created(ngx_http_huella_ctx_t *ctx,
    json_t *doc, ngx_uint_t position);


ngx_http_huella_endpoint_t  ngx_http_huella_subject_create = {
    HIPC_OP_SUBJECT_CREATE, ngx_http_huella_create_encode,
    ngx_http_huella_create_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_subject_get = {
    HIPC_OP_SUBJECT_GET, ngx_http_huella_curp_encode,
    ngx_http_huella_get_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_subject_delete = {
    HIPC_OP_SUBJECT_DELETE, ngx_http_huella_curp_encode,
    ngx_http_huella_deleted_decode, 0, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_finger_put = {
    HIPC_OP_FINGER_PUT, ngx_http_huella_put_encode,
    ngx_http_huella_put_decode, 1, 0, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_finger_delete = {
    HIPC_OP_FINGER_DELETE, ngx_http_huella_finger_delete_encode,
    ngx_http_huella_deleted_decode, 0, 0, NULL, 0
};


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
