
/*
 * GET /healthz: the health ping through the calling worker's link.  The
 * answer for a link that is down is given by the router without a call.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"


static ngx_int_t ngx_http_huella_ping_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_ping_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);


ngx_http_huella_endpoint_t  ngx_http_huella_ping = {
    HIPC_OP_PING, ngx_http_huella_ping_encode, ngx_http_huella_ping_decode,
    0, 0, NULL, 0
};


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
