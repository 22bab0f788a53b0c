
/*
 * Kiosk punches (issue 6, docs/attendance-api.md):
 *
 *   POST /api/v1/punches  {"finger":{"format","data"}?,"matricula"?,
 *                          "site"?,"face":{"model","dim","data"}?}
 *                          (a finger, a face, or both)
 *
 * The route asks for the RFC 9421 signature of a registered kiosk
 * (NGX_HTTP_HUELLA_SIGNED_KIOSK, ngx_http_huella_signature.c): encode()
 * runs only for a valid one, and the verified keyid goes to huellad as
 * DEVICE_ID, which names the kiosk's site.  With a matrícula huellad
 * verifies 1:1, without it identifies over the site's roster and then the
 * gallery.  201 with who, entrada or salida, when, the status and the
 * receipt; 401 no_match with attempts_left; 429 with Retry-After once the
 * kiosk or the person is throttled (NIST SP 800-63B).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_attendance.h"


#define NGX_HTTP_HUELLA_MATRICULA_MAX  32


static ngx_int_t ngx_http_huella_punch_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_punch_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_punch = {
    .op = HIPC_OP_PUNCH,
    .encode = ngx_http_huella_punch_encode,
    .decode = ngx_http_huella_punch_decode,
    .body = 1,
    .finger = 1,
};


static ngx_int_t
ngx_http_huella_punch_encode(ngx_http_huella_ctx_t *ctx)
{
    u_char                     c;
    size_t                     i;
    json_t                    *face;
    ngx_int_t                  rc;
    ngx_uint_t                 has_face, has_finger;
    ngx_str_t                  matricula, site, *client;
    ngx_http_huella_finger_t   finger;

    if (ctx->device == NULL || ctx->device->id.len == 0) {

        /* the route is signed: never reached without a verified kiosk */

        return ngx_http_huella_reject(ctx, NGX_HTTP_UNAUTHORIZED,
                                      "signature_missing", NULL,
                                      "a punch must be signed by a "
                                      "registered kiosk");
    }

    face = json_object_get(ctx->body, "face");
    has_face = face != NULL && !json_is_null(face);
    has_finger = json_object_get(ctx->body, "finger") != NULL
                 && !json_is_null(json_object_get(ctx->body, "finger"));

    if (!has_finger && !has_face) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "finger",
                                      "a punch needs \"finger\", \"face\" "
                                      "or both");
    }

    if (has_finger) {
        rc = ngx_http_huella_nested_finger(ctx, &finger);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "matricula", "matricula", 0,
                                &matricula);
    if (rc != NGX_OK) {
        return rc;
    }

    if (matricula.data) {
        for (i = 0; i < matricula.len; i++) {
            c = matricula.data[i];

            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
                  || (c >= 'a' && c <= 'z') || c == '-' || c == '.'
                  || c == '_'))
            {
                break;
            }
        }

        if (matricula.len == 0
            || matricula.len > NGX_HTTP_HUELLA_MATRICULA_MAX
            || i < matricula.len)
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_matricula", "matricula",
                                          "matricula is 1 to %d letters, "
                                          "digits, '-', '.' or '_'",
                                          NGX_HTTP_HUELLA_MATRICULA_MAX);
        }
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "site", "site", 0, &site);
    if (rc != NGX_OK) {
        return rc;
    }

    if (site.data
        && !ngx_http_huella_att_word(&site, NGX_HTTP_HUELLA_ATT_WORD_MAX))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "unknown_site", "site",
                                      "site is a site id of "
                                      "GET /api/v1/attendance/rules");
    }

    rc = ngx_http_huella_att_test_now(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (has_finger) {
        hipc_put_u32(&ctx->writer, HIPC_F_FORMAT, finger.format);
        hipc_put(&ctx->writer, HIPC_F_TEMPLATE, finger.data.data,
                 finger.data.len);
    }

    if (has_face) {
        rc = ngx_http_huella_face(ctx, face);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    hipc_put(&ctx->writer, HIPC_F_DEVICE_ID, ctx->device->id.data,
             ctx->device->id.len);

    if (matricula.data) {
        hipc_put(&ctx->writer, HIPC_F_MATRICULA, matricula.data,
                 matricula.len);
    }

    if (site.data) {
        hipc_put(&ctx->writer, HIPC_F_SITE, site.data, site.len);
    }

    client = ngx_http_huella_client(ctx->request);

    if (ngx_http_huella_att_word(client, 63)) {
        hipc_put(&ctx->writer, HIPC_F_CLIENT, client->data, client->len);
    }

    return NGX_OK;
}


/*
 * 201 {"curp","name","kind","at","folio","status","counted","site"?,
 *      "kiosk","receipt"?,"method":"finger"|"face","score","threshold"}
 */

static ngx_int_t
ngx_http_huella_punch_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t          *doc;
    double           d;
    uint16_t         tag;
    uint32_t         len;
    ngx_str_t        status;
    const uint8_t   *data;

    doc = json_object();
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&status);

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        switch (tag) {

        case HIPC_F_CURP:
            json_object_set_new(doc, "curp",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_NAME:
            json_object_set_new(doc, "name",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_KIND:
            json_object_set_new(doc, "kind",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_AT:
            json_object_set_new(doc, "at",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_FOLIO:
            json_object_set_new(doc, "folio",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_PUNCH_STATUS:
            status.data = (u_char *) data;
            status.len = len;
            json_object_set_new(doc, "status",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_SITE:
            json_object_set_new(doc, "site",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_RECEIPT:
            json_object_set_new(doc, "receipt",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_AUTH_METHOD:
            json_object_set_new(doc, "method",
                                json_stringn((const char *) data, len));
            break;

        case HIPC_F_SCORE:
        case HIPC_F_THRESHOLD:
            if (hipc_get_f64(data, len, &d) != 0) {
                json_decref(doc);
                return ngx_http_huella_malformed(ctx);
            }

            json_object_set_new(doc, tag == HIPC_F_SCORE ? "score"
                                                         : "threshold",
                                json_real(d));
            break;
        }
    }

    if (json_object_get(doc, "curp") == NULL
        || json_object_get(doc, "kind") == NULL
        || json_object_get(doc, "at") == NULL || status.len == 0)
    {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    /* a duplicate, or a punch into a frozen period, is kept as evidence */

    json_object_set_new(doc, "counted",
        json_boolean(!(status.len == 9
                       && ngx_strncmp(status.data, "duplicada", 9) == 0)
                     && !(status.len == 15
                          && ngx_strncmp(status.data, "periodo_cerrado", 15)
                             == 0)));

    json_object_set_new(doc, "kiosk",
                        json_stringn((const char *) ctx->device->id.data,
                                     ctx->device->id.len));

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED, doc);
}
