
/*
 * Matching: 1:1 verification against one subject and 1:N identification
 * over every enrolled template.  Scores and the threshold used are always
 * reported; the threshold is the matcher's, calibrated for its target
 * false match rate.  Both take one finger ("finger") or several fingers
 * fused into one decision ("fingers", 1 to 10, sent as PROBE groups; the
 * reply adds "fused" and each finger's detail).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"


#define NGX_HTTP_HUELLA_CANDIDATES_MAX  100
#define NGX_HTTP_HUELLA_CANDIDATES_DEF  10
#define NGX_HTTP_HUELLA_PROBES_MAX      10


static ngx_int_t ngx_http_huella_verify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_verify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_identify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_identify_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static json_t *ngx_http_huella_candidate_doc(const uint8_t *data, uint32_t len);
static ngx_int_t ngx_http_huella_probe_form(ngx_http_huella_ctx_t *ctx,
    ngx_uint_t *multi);
static ngx_int_t ngx_http_huella_probe_fingers(ngx_http_huella_ctx_t *ctx);
static char *ngx_http_huella_probe_field(ngx_http_huella_ctx_t *ctx,
    ngx_uint_t i, char *name);
static ngx_int_t ngx_http_huella_probe_score(json_t *doc,
    const uint8_t *data, uint32_t len);


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

    ngx_uint_t                multi;

    rc = ngx_http_huella_body_curp(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_probe_form(ctx, &multi);
    if (rc != NGX_OK) {
        return rc;
    }

    if (multi) {
        hipc_put(&ctx->writer, HIPC_F_CURP, ctx->curp.data, ctx->curp.len);

        return ngx_http_huella_probe_fingers(ctx);
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

        case HIPC_F_FUSED:
            if (hipc_get_u32(data, len, &v) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, "fused", json_boolean(v));
            break;

        case HIPC_F_PROBE_SCORE:
            if (ngx_http_huella_probe_score(doc, data, len) != NGX_OK) {
                goto malformed;
            }
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
    ngx_uint_t                multi;
    ngx_http_huella_finger_t  finger;

    rc = ngx_http_huella_probe_form(ctx, &multi);
    if (rc != NGX_OK) {
        return rc;
    }

    if (multi) {
        rc = ngx_http_huella_probe_fingers(ctx);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        rc = ngx_http_huella_nested_finger(ctx, &finger);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    max = NGX_HTTP_HUELLA_CANDIDATES_DEF;

    rc = ngx_http_huella_integer(ctx, ctx->body, "max_candidates",
                                 "max_candidates", 1,
                                 NGX_HTTP_HUELLA_CANDIDATES_MAX, &max);
    if (rc != NGX_OK) {
        return rc;
    }

    if (multi) {
        hipc_put_u32(&ctx->writer, HIPC_F_MAX_CANDIDATES, (uint32_t) max);

        return NGX_OK;
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
    uint32_t        len, flag;
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

        case HIPC_F_FUSED:
            if (hipc_get_u32(data, len, &flag) != 0) {
                goto malformed;
            }

            json_object_set_new(doc, "fused", json_boolean(flag));
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

        case HIPC_F_PROBE_SCORE:
            if (ngx_http_huella_probe_score(doc, fdata, flen) != NGX_OK) {
                json_decref(doc);
                return NULL;
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


/*
 * "finger" (one template) or "fingers" (1 to 10, fused): exactly one of
 * them; a JSON null counts as absent.
 */

static ngx_int_t
ngx_http_huella_probe_form(ngx_http_huella_ctx_t *ctx, ngx_uint_t *multi)
{
    json_t  *one, *many;

    one = json_object_get(ctx->body, "finger");
    many = json_object_get(ctx->body, "fingers");

    if (one != NULL && json_is_null(one)) {
        one = NULL;
    }

    if (many != NULL && json_is_null(many)) {
        many = NULL;
    }

    if (one && many) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "conflicting_fields", "fingers",
                                      "\"finger\" and \"fingers\" are "
                                      "mutually exclusive: send one finger "
                                      "or a list of fingers");
    }

    if (one == NULL && many == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "finger",
                                      "\"finger\" (one template) or "
                                      "\"fingers\" (a list) is required");
    }

    *multi = (many != NULL);

    return NGX_OK;
}


/* "fingers":[{"position"?,"format","data"}, ...] as PROBE groups */

static ngx_int_t
ngx_http_huella_probe_fingers(ngx_http_huella_ctx_t *ctx)
{
    char                             *name;
    size_t                            i, j, n, at;
    json_t                           *list, *o;
    ngx_int_t                         rc;
    ngx_uint_t                        positions[NGX_HTTP_HUELLA_PROBES_MAX];
    ngx_http_huella_finger_t          finger;
    ngx_http_huella_finger_fields_t   fields;

    list = json_object_get(ctx->body, "fingers");

    if (!json_is_array(list)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", "fingers",
                                      "\"fingers\" must be an array of 1 to "
                                      "%d finger objects",
                                      NGX_HTTP_HUELLA_PROBES_MAX);
    }

    n = json_array_size(list);

    if (n == 0 || n > NGX_HTTP_HUELLA_PROBES_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_fingers", "fingers",
                                      "\"fingers\" must hold 1 to %d "
                                      "fingers, got %uz",
                                      NGX_HTTP_HUELLA_PROBES_MAX, n);
    }

    json_array_foreach(list, i, o) {

        name = ngx_http_huella_probe_field(ctx, i, NULL);
        fields.format = ngx_http_huella_probe_field(ctx, i, "format");
        fields.data = ngx_http_huella_probe_field(ctx, i, "data");
        fields.position = ngx_http_huella_probe_field(ctx, i, "position");

        if (name == NULL || fields.format == NULL || fields.data == NULL
            || fields.position == NULL)
        {
            return NGX_ERROR;
        }

        if (!json_is_object(o)) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_type", name,
                                          "\"%s\" must be an object with "
                                          "format, data and an optional "
                                          "position", name);
        }

        rc = ngx_http_huella_finger(ctx, o, &fields, &finger);
        if (rc != NGX_OK) {
            return rc;
        }

        positions[i] = finger.position;

        for (j = 0; finger.position && j < i; j++) {
            if (positions[j] == finger.position) {
                return ngx_http_huella_reject(ctx,
                                              NGX_HTTP_UNPROCESSABLE_ENTITY,
                                              "duplicate_position",
                                              fields.position,
                                              "position %ui is also given "
                                              "by fingers[%uz]: each finger "
                                              "once", finger.position, j);
            }
        }

        at = hipc_open(&ctx->writer, HIPC_F_PROBE);

        if (finger.position) {
            hipc_put_u32(&ctx->writer, HIPC_F_POSITION,
                         (uint32_t) finger.position);
        }

        hipc_put_u32(&ctx->writer, HIPC_F_FORMAT, finger.format);
        hipc_put(&ctx->writer, HIPC_F_TEMPLATE, finger.data.data,
                 finger.data.len);
        hipc_close(&ctx->writer, at);
    }

    return NGX_OK;
}


/* "fingers[3]" or "fingers[3].data", in the request pool */

static char *
ngx_http_huella_probe_field(ngx_http_huella_ctx_t *ctx, ngx_uint_t i,
    char *name)
{
    u_char  *p, *last;

    p = ngx_pnalloc(ctx->request->pool, 32);
    if (p == NULL) {
        return NULL;
    }

    if (name) {
        last = ngx_snprintf(p, 31, "fingers[%ui].%s", i, name);

    } else {
        last = ngx_snprintf(p, 31, "fingers[%ui]", i);
    }

    *last = '\0';

    return (char *) p;
}


/*
 * One PROBE_SCORE -> {"position":P|null,"score":S,"matched_position":M|null}
 * appended to doc's "fingers" (created on the first one).
 */

static ngx_int_t
ngx_http_huella_probe_score(json_t *doc, const uint8_t *data, uint32_t len)
{
    int                 rc;
    double              d;
    json_t             *list, *item, *position, *matched, *score;
    uint16_t            tag;
    uint32_t            flen, v;
    const uint8_t      *fdata;
    struct hipc_reader  rd;

    position = json_null();
    matched = json_null();
    score = NULL;

    hipc_reader_init(&rd, data, len);

    while ((rc = hipc_next(&rd, &tag, &fdata, &flen)) == 1) {

        switch (tag) {

        case HIPC_F_POSITION:
        case HIPC_F_MATCHED_POSITION:
            if (hipc_get_u32(fdata, flen, &v) != 0) {
                rc = -1;
                break;
            }

            if (tag == HIPC_F_POSITION) {
                json_decref(position);
                position = v ? json_integer(v) : json_null();

            } else {
                json_decref(matched);
                matched = json_integer(v);
            }
            break;

        case HIPC_F_SCORE:
            if (hipc_get_f64(fdata, flen, &d) != 0) {
                rc = -1;
                break;
            }

            json_decref(score);
            score = json_real(d);
            break;
        }

        if (rc < 0) {
            break;
        }
    }

    if (rc != 0 || score == NULL) {
        json_decref(position);
        json_decref(matched);
        json_decref(score);
        return NGX_ERROR;
    }

    item = json_pack("{s:o,s:o,s:o}", "position", position, "score", score,
                     "matched_position", matched);
    if (item == NULL) {
        return NGX_ERROR;
    }

    list = json_object_get(doc, "fingers");

    if (list == NULL) {
        list = json_array();
        if (list == NULL || json_object_set_new(doc, "fingers", list) != 0) {
            json_decref(item);
            return NGX_ERROR;
        }
    }

    return json_array_append_new(list, item) == 0 ? NGX_OK : NGX_ERROR;
}
