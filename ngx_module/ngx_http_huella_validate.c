
/*
 * POST /api/v1/validate {"type":"curp"|"nss"|"rfc","value":"..."}: the
 * identifier rules of DESIGN.md section 3 for integrators and the portal's
 * forms, answered in the worker without calling huellad:
 * 200 {"valid":bool,"reason":"..."|null,"warnings":[...]}.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_VALIDATE_MAX  64


static ngx_int_t ngx_http_huella_validate_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_validate_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_validate = {
    0, ngx_http_huella_validate_encode, ngx_http_huella_validate_decode,
    1, 0, NULL, 0
};


static ngx_int_t
ngx_http_huella_validate_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  type, value;

    rc = ngx_http_huella_string(ctx, ctx->body, "type", "type", 1, &type);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!((type.len == 4 && ngx_strncmp(type.data, "curp", 4) == 0)
          || (type.len == 3 && ngx_strncmp(type.data, "nss", 3) == 0)
          || (type.len == 3 && ngx_strncmp(type.data, "rfc", 3) == 0)))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "unsupported_type", "type",
                                      "type must be \"curp\", \"nss\" or "
                                      "\"rfc\"");
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "value", "value", 1, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    if (value.len > NGX_HTTP_HUELLA_VALIDATE_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "value_too_long", "value",
                                      "value must be at most %d bytes",
                                      NGX_HTTP_HUELLA_VALIDATE_MAX);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_validate_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    u_char      buf[NGX_HTTP_HUELLA_VALIDATE_MAX];
    char       *reason, *warning;
    json_t     *doc, *warnings;
    size_t      i;
    ngx_str_t   type, value;
    ngx_uint_t  company;

    type.data = (u_char *) json_string_value(json_object_get(ctx->body,
                                                             "type"));
    type.len = ngx_strlen(type.data);
    value.data = (u_char *) json_string_value(json_object_get(ctx->body,
                                                              "value"));
    value.len = json_string_length(json_object_get(ctx->body, "value"));

    warnings = json_array();
    warning = NULL;
    company = 0;

    if (type.data[0] == 'c') {

        /* CURPs are upper case; lower case is accepted and normalized */

        for (i = 0; i < value.len; i++) {
            buf[i] = ngx_toupper(value.data[i]);
        }

        reason = ngx_http_huella_curp_check(buf, value.len);

    } else if (type.data[0] == 'n') {
        reason = ngx_http_huella_nss_check(value.data, value.len);

    } else {
        reason = ngx_http_huella_rfc_check(value.data, value.len, &warning,
                                           &company);
    }

    if (warning) {
        json_array_append_new(warnings, json_string(warning));
    }

    doc = json_pack("{s:b,s:o,s:o}", "valid", reason == NULL,
                    "reason", reason ? json_string(reason) : json_null(),
                    "warnings", warnings);

    if (doc && type.data[0] == 'r' && reason == NULL) {
        json_object_set_new(doc, "kind",
                            json_string(company ? "company" : "person"));
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}
