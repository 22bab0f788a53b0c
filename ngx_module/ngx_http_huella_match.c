
/*
 * Matching: 1:1 verification against one subject and 1:N identification
 * over every enrolled template.  Scores and the threshold used are always
 * reported; the threshold is the matcher's, calibrated for its target
 * false match rate.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"


#define NGX_HTTP_HUELLA_CANDIDATES_MAX  100
#define NGX_HTTP_HUELLA_CANDIDATES_DEF  10


static ngx_int_t ngx_http_huella_verify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_verify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_identify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_identify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static json_t *ngx_http_huella_candidate_doc(const uint8_t *data, uint32_t len);


ngx_http_huella_endpoint_t  ngx_http_huella_verify = {
    HIPC_OP_VERIFY, ngx_http_huella_verify_encode,
    ngx_http_huella_verify_decode, 1, 1, NULL, 0
};

ngx_http_huella_endpoint_t  ngx_http_huella_identify = {
    HIPC_OP_IDENTIFY, ngx_http_huella_identify_encode,
    ngx_http_huella_identify_decode, 1, 1, NULL, 0
};


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
