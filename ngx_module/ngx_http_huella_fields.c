
/*
 * Request decoding of the JSON API, apart from any event so that
 * tests/fuzz/fuzz_json_fields.c builds it alone: the error record of a
 * rejected request, the body parsed as a JSON object, typed getters that
 * turn a wrong or missing field into the API's error (400 missing_field,
 * 422 naming the field), the CURP of a body, a finger template object
 * (format, optional position, base64 data decoded), a face embedding
 * object and the strict base64 decoder whose messages name the offending
 * byte.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_FACE_MODEL_MAX  63
#define NGX_HTTP_HUELLA_FACE_DIM_MAX    1024

/* room is left in the matcher message for the other fields */
#define NGX_HTTP_HUELLA_TEMPLATE_MAX  (HIPC_PAYLOAD_MAX - 1024)


ngx_http_huella_finger_fields_t  ngx_http_huella_top_fields = {
    "format", "data", "position"
};

ngx_http_huella_finger_fields_t  ngx_http_huella_nested_fields = {
    "finger.format", "finger.data", "finger.position"
};


static void ngx_http_huella_json_cleanup(void *data);


static struct {
    char                      *name;
    uint32_t                   format;
} ngx_http_huella_formats[] = {
    { "iso19794-2:2005", HIPC_FMT_ISO19794_2_2005 },
    { "ansi378-2004", HIPC_FMT_ANSI378_2004 },
    { NULL, 0 }
};


ngx_int_t
ngx_http_huella_reject(ngx_http_huella_ctx_t *ctx, ngx_uint_t status,
    char *code, char *field, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    ctx->status = status;

    ctx->code.data = (u_char *) code;
    ctx->code.len = ngx_strlen(code);

    if (field) {
        ctx->field.data = (u_char *) field;
        ctx->field.len = ngx_strlen(field);
    }

    ctx->message.data = ngx_pnalloc(ctx->request->pool, NGX_MAX_ERROR_STR);
    if (ctx->message.data == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(ctx->message.data,
                      ctx->message.data + NGX_MAX_ERROR_STR, fmt, args);
    va_end(args);

    ctx->message.len = p - ctx->message.data;

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_huella_parse_body(ngx_http_huella_ctx_t *ctx)
{
    json_t              *body;
    json_error_t         err;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    body = json_loadb((char *) ctx->raw_body.data, ctx->raw_body.len,
                      JSON_REJECT_DUPLICATES, &err);

    if (body == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "malformed_json", NULL,
                                      "malformed JSON at line %d column %d: "
                                      "%s", err.line, err.column, err.text);
    }

    cln->handler = ngx_http_huella_json_cleanup;
    cln->data = body;

    if (!json_is_object(body)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "malformed_json", NULL,
                                      "the body must be a JSON object");
    }

    ctx->body = body;

    return NGX_OK;
}


static void
ngx_http_huella_json_cleanup(void *data)
{
    json_decref(data);
}


ngx_int_t
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


ngx_int_t
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


ngx_int_t
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


ngx_int_t
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


ngx_int_t
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

    if (finger->data.len > NGX_HTTP_HUELLA_TEMPLATE_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "template_too_large", fields->data,
                                      "a template of %uz bytes exceeds the "
                                      "limit of %uz bytes", finger->data.len,
                                      (size_t) NGX_HTTP_HUELLA_TEMPLATE_MAX);
    }

    return NGX_OK;
}


json_t *
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


ngx_int_t
ngx_http_huella_base64_decode(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst, ngx_str_t *err)
{
    size_t      len, pad, i;
    u_char      c, *p;
    ngx_str_t   body;

    err->data = ngx_pnalloc(pool, 128);
    if (err->data == NULL) {
        return NGX_ERROR;
    }

    len = src->len;

    if (len == 0) {
        p = ngx_sprintf(err->data, "data is empty");
        goto invalid;
    }

    pad = 0;

    while (pad < 2 && len > 0 && src->data[len - 1] == '=') {
        len--;
        pad++;
    }

    for (i = 0; i < len; i++) {
        c = src->data[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '+' || c == '/')
        {
            continue;
        }

        if (c == '=') {
            p = ngx_sprintf(err->data, "base64 padding '=' at offset %uz "
                            "before the end of data", i);

        } else if (c == '-' || c == '_') {
            p = ngx_sprintf(err->data, "base64url character '%c' at offset "
                            "%uz: data must be standard base64", c, i);

        } else if (c == ' ' || c == CR || c == LF || c == '\t') {
            p = ngx_sprintf(err->data, "whitespace at offset %uz: data must "
                            "be base64 on a single line", i);

        } else if (c >= 0x21 && c < 0x7f) {
            p = ngx_sprintf(err->data, "invalid base64 character '%c' at "
                            "offset %uz", c, i);

        } else {
            p = ngx_sprintf(err->data, "invalid base64 byte 0x%02xd at "
                            "offset %uz", (int) c, i);
        }

        goto invalid;
    }

    if (pad && (len + pad) % 4 != 0) {
        p = ngx_sprintf(err->data, "padded base64 length %uz is not a "
                        "multiple of 4", len + pad);
        goto invalid;
    }

    if (len % 4 == 1) {
        p = ngx_sprintf(err->data, "truncated base64: %uz characters "
                        "cannot encode whole bytes", len);
        goto invalid;
    }

    body.data = src->data;
    body.len = len;

    dst->data = ngx_pnalloc(pool, ngx_base64_decoded_length(len));
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64(dst, &body) != NGX_OK) {
        p = ngx_sprintf(err->data, "data is not valid base64");
        goto invalid;
    }

    return NGX_OK;

invalid:

    err->len = p - err->data;

    return NGX_DECLINED;
}


/*
 * "face": {"model","dim","data"}: model 1 to 63 printable characters
 * without spaces, dim 1 to 1024, data the base64 of dim float32 values;
 * put as FACE (FACE_MODEL, FACE_DIM, FACE_DATA).  Whether huellad knows
 * that model and dim is huellad's to say.
 */

ngx_int_t
ngx_http_huella_face(ngx_http_huella_ctx_t *ctx, json_t *face)
{
    size_t     at, i;
    ngx_int_t  rc, dim;
    ngx_str_t  model, data, bytes, err;

    if (!json_is_object(face)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", "face",
                                      "\"face\" must be an object with "
                                      "model, dim and data");
    }

    rc = ngx_http_huella_string(ctx, face, "model", "face.model", 1, &model);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; i < model.len; i++) {
        if (model.data[i] <= 0x20 || model.data[i] >= 0x7f) {
            break;
        }
    }

    if (model.len == 0 || model.len > NGX_HTTP_HUELLA_FACE_MODEL_MAX
        || i < model.len)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_face_model", "face.model",
                                      "face.model is 1 to %d printable "
                                      "characters without spaces",
                                      NGX_HTTP_HUELLA_FACE_MODEL_MAX);
    }

    dim = 0;

    rc = ngx_http_huella_integer(ctx, face, "dim", "face.dim", 1,
                                 NGX_HTTP_HUELLA_FACE_DIM_MAX, &dim);
    if (rc != NGX_OK) {
        return rc;
    }

    if (dim == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "face.dim",
                                      "\"face.dim\" is required");
    }

    rc = ngx_http_huella_string(ctx, face, "data", "face.data", 1, &data);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_base64_decode(ctx->request->pool, &data, &bytes,
                                       &err);
    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_base64", "face.data", "%V",
                                      &err);
    }

    if (bytes.len != (size_t) dim * 4) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_face_data", "face.data",
                                      "face.data holds %uz bytes, %i float32 "
                                      "values are %i bytes", bytes.len, dim,
                                      dim * 4);
    }

    at = hipc_open(&ctx->writer, HIPC_F_FACE);
    hipc_put(&ctx->writer, HIPC_F_FACE_MODEL, model.data, model.len);
    hipc_put_u32(&ctx->writer, HIPC_F_FACE_DIM, (uint32_t) dim);
    hipc_put(&ctx->writer, HIPC_F_FACE_DATA, bytes.data, bytes.len);
    hipc_close(&ctx->writer, at);

    return NGX_OK;
}
