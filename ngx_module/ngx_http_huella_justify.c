
/*
 * Justifications of attendance incidents and the portal's notifications
 * (issue 6, docs/attendance-api.md):
 *
 *   POST /api/v1/justifications                  a worker files one
 *   GET  /api/v1/justifications?scope=mine|team  history, supervisor inbox
 *   POST /api/v1/justifications/{id}/decision    approve or reject
 *   GET  /api/v1/justifications/{id}/attachment  the file, as filed
 *   GET  /api/v1/notifications?limit=N
 *
 * An attachment larger than one matcher message goes as its first chunk
 * in JUSTIFY_CREATE and the rest in JUSTIFY_ATTACHMENT_APPEND calls made
 * one after the other by the same request (after ATTENDANCE_RULES says
 * the whole fits huellad's limit, so nothing is filed half); reading it
 * back takes
 * JUSTIFY_ATTACHMENT_GET calls by offset.  The request stays suspended
 * between the calls: the worker never blocks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_api.h"
#include "ngx_http_huella_json.h"
#include "ngx_http_huella_attendance.h"
#include "ngx_http_huella_devices.h"


/* what an APPEND or GET message carries besides the chunk */
#define NGX_HTTP_HUELLA_CHUNK_SLACK     1024
#define NGX_HTTP_HUELLA_ATTACHMENT_CAP  (64 * 1024 * 1024)
#define NGX_HTTP_HUELLA_JUST_ID_MAX     24


typedef struct {
    ngx_http_huella_call_t     call;
    ngx_http_huella_ctx_t     *ctx;

    ngx_str_t                  id;          /* J-... */
    ngx_str_t                  type;        /* MIME type */

    /* create: the bytes still to append; get: the file so far */
    u_char                    *data;
    size_t                     len;
    size_t                     done;
    size_t                     total;

    json_t                    *doc;         /* create: the answer */
    struct hipc_writer         create;      /* the filing, during the
                                               preflight */
} ngx_http_huella_chunks_t;


static ngx_int_t ngx_http_huella_create_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_attachment_field(ngx_http_huella_ctx_t *ctx,
    ngx_str_t *type, ngx_str_t *data);
static ngx_int_t ngx_http_huella_create_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_preflight_decode(
    ngx_http_huella_ctx_t *ctx, struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_append_next(ngx_http_huella_chunks_t *st);
static void ngx_http_huella_append_done(ngx_http_huella_call_t *call);
static ngx_int_t ngx_http_huella_list_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_array_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_path_just_id(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_decide_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_decide_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_get_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_get_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_get_chunk(ngx_http_huella_chunks_t *st,
    struct hipc_reader *rd);
static ngx_int_t ngx_http_huella_get_next(ngx_http_huella_chunks_t *st);
static void ngx_http_huella_get_done(ngx_http_huella_call_t *call);
static ngx_int_t ngx_http_huella_get_send(ngx_http_huella_chunks_t *st);
static ngx_int_t ngx_http_huella_notify_encode(ngx_http_huella_ctx_t *ctx);
static ngx_int_t ngx_http_huella_chain_call(ngx_http_huella_chunks_t *st,
    ngx_uint_t op, struct hipc_writer *w);
static ngx_int_t ngx_http_huella_chain_error(ngx_http_huella_chunks_t *st);
static void ngx_http_huella_json_free(void *data);


ngx_http_huella_endpoint_t  ngx_http_huella_justification_create = {
    .op = HIPC_OP_JUSTIFY_CREATE,
    .encode = ngx_http_huella_create_encode,
    .decode = ngx_http_huella_create_decode,
    .body = 1,
};

/* a large attachment: the rules first, then JUSTIFY_CREATE */
static ngx_http_huella_endpoint_t
    ngx_http_huella_justification_preflight =
{
    .op = HIPC_OP_ATTENDANCE_RULES,
    .encode = ngx_http_huella_create_encode,
    .decode = ngx_http_huella_preflight_decode,
    .body = 1,
};

ngx_http_huella_endpoint_t  ngx_http_huella_justifications_list = {
    .op = HIPC_OP_JUSTIFY_LIST,
    .encode = ngx_http_huella_list_encode,
    .decode = ngx_http_huella_array_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_justification_decide = {
    .op = HIPC_OP_JUSTIFY_DECIDE,
    .encode = ngx_http_huella_decide_encode,
    .decode = ngx_http_huella_decide_decode,
    .body = 1,
};

ngx_http_huella_endpoint_t  ngx_http_huella_justification_attachment = {
    .op = HIPC_OP_JUSTIFY_ATTACHMENT_GET,
    .encode = ngx_http_huella_get_encode,
    .decode = ngx_http_huella_get_decode,
};

ngx_http_huella_endpoint_t  ngx_http_huella_notifications = {
    .op = HIPC_OP_NOTIFY_LIST,
    .encode = ngx_http_huella_notify_encode,
    .decode = ngx_http_huella_array_decode,
};


/* files a portal serves back: no active content */
static char  *ngx_http_huella_attachment_types[] = {
    "application/pdf", "image/png", "image/jpeg", NULL
};

static char  *ngx_http_huella_incidents[] = {
    "retardo", "falta", "salida_anticipada", "omision_salida", NULL
};


/* ---- filing ----------------------------------------------------------- */

/*
 * {"date":"YYYY-MM-DD" | "folio":"...", "reason":"cita_medica",
 *  "text"?, "incident"?, "curp"? (admin), "attachment"?: {"type","data"}}
 */

static ngx_int_t
ngx_http_huella_create_encode(ngx_http_huella_ctx_t *ctx)
{
    size_t                     room, first;
    ngx_int_t                  rc;
    ngx_str_t                  date, folio, reason, text, incident, type;
    ngx_str_t                  data, *curp;
    ngx_uint_t                 i;
    ngx_http_huella_chunks_t  *st;

    rc = ngx_http_huella_string(ctx, ctx->body, "date", "date", 0, &date);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "folio", "folio", 0, &folio);
    if (rc != NGX_OK) {
        return rc;
    }

    if (date.data == NULL && folio.data == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                      "missing_field", "date",
                                      "\"date\" (YYYY-MM-DD) or \"folio\" "
                                      "(of a punch) is required");
    }

    if (date.data && folio.data) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_value", "folio",
                                      "give either date or folio, not "
                                      "both");
    }

    if (date.data && !ngx_http_huella_att_date_valid(date.data, date.len)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_date", "date",
                                      "date must be a date YYYY-MM-DD");
    }

    if (folio.data && !ngx_http_huella_att_word(&folio, 31)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_folio", "folio",
                                      "folio is a punch's folio such as "
                                      "HUE-2026-000000012");
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "reason", "reason", 1,
                                &reason);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!ngx_http_huella_att_word(&reason, NGX_HTTP_HUELLA_ATT_WORD_MAX)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "unknown_reason", "reason",
                                      "reason is a code of the catalog "
                                      "(GET /api/v1/attendance/rules)");
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "text", "text", 0, &text);
    if (rc != NGX_OK) {
        return rc;
    }

    if (text.len > NGX_HTTP_HUELLA_ATT_TEXT_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_text", "text",
                                      "text is at most %d bytes",
                                      NGX_HTTP_HUELLA_ATT_TEXT_MAX);
    }

    for (i = 0; i < text.len; i++) {
        if ((text.data[i] < 0x20 && text.data[i] != '\n'
             && text.data[i] != '\t')
            || text.data[i] == 0x7f)
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_text", "text",
                                          "text has a control character");
        }
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "incident", "incident", 0,
                                &incident);
    if (rc != NGX_OK) {
        return rc;
    }

    if (incident.data) {
        for (i = 0; ngx_http_huella_incidents[i]; i++) {
            if (incident.len == ngx_strlen(ngx_http_huella_incidents[i])
                && ngx_strncmp(incident.data, ngx_http_huella_incidents[i],
                               incident.len) == 0)
            {
                break;
            }
        }

        if (ngx_http_huella_incidents[i] == NULL) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_incident", "incident",
                                          "incident is one of retardo, "
                                          "falta, salida_anticipada, "
                                          "omision_salida (absent: the "
                                          "whole day)");
        }
    }

    /* whose: the caller's own, or anyone's for an admin */

    if (json_object_get(ctx->body, "curp")) {
        rc = ngx_http_huella_body_curp(ctx);
        if (rc != NGX_OK) {
            return rc;
        }

        curp = &ctx->curp;

    } else {
        curp = &ctx->identity->f[NGX_HTTP_HUELLA_ID_CURP];

        if (curp->len == 0) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_BAD_REQUEST,
                                          "missing_field", "curp",
                                          "a service token files for "
                                          "someone: \"curp\" is required");
        }
    }

    rc = ngx_http_huella_attachment_field(ctx, &type, &data);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_att_test_now(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_CURP, curp->data, curp->len);

    if (date.data) {
        hipc_put(&ctx->writer, HIPC_F_DATE, date.data, date.len);

    } else {
        hipc_put(&ctx->writer, HIPC_F_FOLIO, folio.data, folio.len);
    }

    hipc_put(&ctx->writer, HIPC_F_REASON, reason.data, reason.len);

    if (text.len) {
        hipc_put(&ctx->writer, HIPC_F_TEXT, text.data, text.len);
    }

    if (incident.data) {
        hipc_put(&ctx->writer, HIPC_F_KIND, incident.data, incident.len);
    }

    ngx_http_huella_att_caller(ctx);

    if (data.data == NULL) {
        return NGX_OK;
    }

    hipc_put(&ctx->writer, HIPC_F_ATTACHMENT_TYPE, type.data, type.len);

    /* as much of the file as this message holds; the rest is appended */

    room = ctx->writer.cap - ctx->writer.len;
    room = (room > 2 * HIPC_TLV_HDR) ? room - 2 * HIPC_TLV_HDR : 0;
    first = ngx_min(room, data.len);

    hipc_put(&ctx->writer, HIPC_F_ATTACHMENT, data.data, first);

    if (first < data.len) {
        st = ngx_pcalloc(ctx->request->pool,
                         sizeof(ngx_http_huella_chunks_t));
        if (st == NULL) {
            return NGX_ERROR;
        }

        st->ctx = ctx;
        st->data = data.data + first;
        st->len = data.len - first;
        st->total = data.len;
        ctx->data = st;

        /*
         * huellad's size limit is known before anything is filed: the
         * rules are asked first (an empty message), the filing is kept
         */

        st->create = ctx->writer;
        ctx->writer.len = 0;
        ctx->endpoint = &ngx_http_huella_justification_preflight;
    }

    return NGX_OK;
}


/* the rules' max_attachment_bytes, then the filing itself */

static ngx_int_t
ngx_http_huella_preflight_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t                      *doc, *max;
    ngx_int_t                    rc;
    json_int_t                   limit;
    ngx_http_huella_chunks_t    *st;
    ngx_http_huella_loc_conf_t  *hlcf;

    st = ctx->data;

    doc = ngx_http_huella_reply_doc(rd);
    max = doc ? json_object_get(doc, "max_attachment_bytes") : NULL;
    limit = json_is_integer(max) ? json_integer_value(max) : -1;
    json_decref(doc);

    if (limit < 0) {
        return ngx_http_huella_malformed(ctx);
    }

    if ((json_int_t) st->total > limit) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      "attachment_too_large",
                                      "attachment.data",
                                      "attachments are at most %L bytes, "
                                      "this one has %uz", (int64_t) limit,
                                      st->total);
    }

    ctx->endpoint = &ngx_http_huella_justification_create;
    ctx->writer = st->create;

    hlcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_huella_module);

    rc = ngx_http_huella_link_call(&ctx->call, HIPC_OP_JUSTIFY_CREATE,
                                   ctx->writer.buf, ctx->writer.len,
                                   hlcf->deadline);

    switch (rc) {

    case NGX_OK:
        ctx->request->main->count++;
        return NGX_DONE;

    case NGX_DECLINED:
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_unavailable", NULL,
                                      "the matcher is not reachable, retry "
                                      "shortly");

    case NGX_BUSY:
        return ngx_http_huella_reject(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "matcher_busy", NULL,
                                      "too many requests in flight to the "
                                      "matcher, retry shortly");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static ngx_int_t
ngx_http_huella_attachment_field(ngx_http_huella_ctx_t *ctx,
    ngx_str_t *type, ngx_str_t *data)
{
    json_t      *obj;
    ngx_int_t    rc;
    ngx_str_t    b64, err;
    ngx_uint_t   i;

    ngx_str_null(type);
    ngx_str_null(data);

    obj = json_object_get(ctx->body, "attachment");

    if (obj == NULL || json_is_null(obj)) {
        return NGX_OK;
    }

    if (!json_is_object(obj)) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_type", "attachment",
                                      "\"attachment\" must be an object "
                                      "with type and data (base64)");
    }

    rc = ngx_http_huella_string(ctx, obj, "type", "attachment.type", 1,
                                type);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; ngx_http_huella_attachment_types[i]; i++) {
        if (type->len == ngx_strlen(ngx_http_huella_attachment_types[i])
            && ngx_strncasecmp(type->data,
                               (u_char *) ngx_http_huella_attachment_types[i],
                               type->len) == 0)
        {
            type->data = (u_char *) ngx_http_huella_attachment_types[i];
            break;
        }
    }

    if (ngx_http_huella_attachment_types[i] == NULL) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_attachment_type",
                                      "attachment.type",
                                      "attachment.type is application/pdf,"
                                      " image/png or image/jpeg");
    }

    rc = ngx_http_huella_string(ctx, obj, "data", "attachment.data", 1,
                                &b64);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_base64_decode(ctx->request->pool, &b64, data,
                                       &err);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_str_null(data);
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_base64", "attachment.data",
                                      "%V", &err);
    }

    return NGX_OK;
}


/* 201 {"id",...,"folio"?,"receipt"?} once every chunk is stored */

static ngx_int_t
ngx_http_huella_create_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t                    *doc;
    uint16_t                   tag;
    uint32_t                   len;
    ngx_str_t                  id;
    const uint8_t             *data;
    ngx_pool_cleanup_t        *cln;
    ngx_http_huella_chunks_t  *st;

    doc = NULL;
    ngx_str_null(&id);

    cln = ngx_pool_cleanup_add(ctx->request->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        switch (tag) {

        case HIPC_F_JUST_ID:
            id.data = (u_char *) data;
            id.len = len;
            break;

        case HIPC_F_JSON:
            if (doc == NULL) {
                doc = json_loadb((const char *) data, len, 0, NULL);
            }
            break;
        }
    }

    if (doc == NULL || !json_is_object(doc) || id.len == 0) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    cln->handler = ngx_http_huella_json_free;
    cln->data = doc;

    hipc_reader_init(rd, ctx->call.reply, ctx->call.reply_len);

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_FOLIO && json_object_get(doc, "folio") == NULL) {
            json_object_set_new(doc, "folio",
                                json_stringn((const char *) data, len));

        } else if (tag == HIPC_F_RECEIPT) {
            json_object_set_new(doc, "receipt",
                                json_stringn((const char *) data, len));
        }
    }

    if (json_object_get(doc, "id") == NULL) {
        json_object_set_new(doc, "id", json_stringn((char *) id.data,
                                                    id.len));
    }

    st = ctx->data;

    if (st == NULL) {
        return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED,
                                         json_incref(doc));
    }

    st->id = id;
    st->doc = doc;

    return ngx_http_huella_append_next(st);
}


static ngx_int_t
ngx_http_huella_append_next(ngx_http_huella_chunks_t *st)
{
    size_t                  chunk;
    struct hipc_writer      w;
    ngx_http_huella_ctx_t  *ctx;

    ctx = st->ctx;

    if (st->done == st->len) {
        json_object_set_new(st->doc, "attachment_bytes",
                            json_integer(st->total));

        return ngx_http_huella_send_json(ctx->request, NGX_HTTP_CREATED,
                                         json_incref(st->doc));
    }

    hipc_writer_init(&w, ngx_pnalloc(ctx->request->pool, HIPC_PAYLOAD_MAX),
                     HIPC_PAYLOAD_MAX);
    if (w.buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    chunk = ngx_min(st->len - st->done,
                    HIPC_PAYLOAD_MAX - NGX_HTTP_HUELLA_CHUNK_SLACK);

    /* ACTOR, ROLES, CLIENT: through ctx->writer's helper, then moved */

    hipc_put(&w, HIPC_F_JUST_ID, st->id.data, st->id.len);
    hipc_put(&w, HIPC_F_ATTACHMENT, st->data + st->done, chunk);

    st->call.data = st;
    st->call.handler = ngx_http_huella_append_done;
    st->call.request = ctx->request;

    st->done += chunk;

    return ngx_http_huella_chain_call(st, HIPC_OP_JUSTIFY_ATTACHMENT_APPEND,
                                      &w);
}


static void
ngx_http_huella_append_done(ngx_http_huella_call_t *call)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_huella_chunks_t  *st;

    st = call->data;
    r = st->ctx->request;
    c = r->connection;

    if (call->rc == NGX_HTTP_HUELLA_REPLY && call->status == HIPC_ST_OK) {
        rc = ngx_http_huella_append_next(st);

    } else {
        rc = ngx_http_huella_chain_error(st);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * Sends the next call of a chain, with the caller's ACTOR, ROLES and
 * CLIENT: NGX_DONE (suspended) or a response's rc.
 */

static ngx_int_t
ngx_http_huella_chain_call(ngx_http_huella_chunks_t *st, ngx_uint_t op,
    struct hipc_writer *w)
{
    ngx_int_t                    rc;
    struct hipc_writer           saved;
    ngx_http_huella_ctx_t       *ctx;
    ngx_http_huella_loc_conf_t  *hlcf;

    ctx = st->ctx;

    saved = ctx->writer;
    ctx->writer = *w;
    ngx_http_huella_att_caller(ctx);
    *w = ctx->writer;
    ctx->writer = saved;

    if (w->overflow) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hlcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_huella_module);

    rc = ngx_http_huella_link_call(&st->call, op, w->buf, w->len,
                                   hlcf->deadline);

    if (rc == NGX_OK) {
        ctx->request->main->count++;
        return NGX_DONE;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->call.rc = NGX_HTTP_HUELLA_DOWN;

    return ngx_http_huella_chain_error(st);
}


/* a failed call in a chain: the matcher's error, naming the record */

static ngx_int_t
ngx_http_huella_chain_error(ngx_http_huella_chunks_t *st)
{
    json_t                  *extra;
    uint16_t                 tag;
    uint32_t                 len;
    ngx_str_t                code, message, field;
    ngx_uint_t               status;
    const uint8_t           *data;
    struct hipc_reader       rd;
    ngx_http_huella_call_t  *call;

    call = &st->call;

    ngx_str_set(&code, "matcher_unavailable");
    ngx_str_set(&message, "the matcher did not answer, retry shortly");
    ngx_str_null(&field);
    status = NGX_HTTP_SERVICE_UNAVAILABLE;

    if (call->rc == NGX_HTTP_HUELLA_REPLY) {

        switch (call->status) {
        case HIPC_ST_NOT_FOUND:
            status = NGX_HTTP_NOT_FOUND;
            break;
        case HIPC_ST_CONFLICT:
            status = NGX_HTTP_CONFLICT;
            break;
        case HIPC_ST_INVALID:
            status = NGX_HTTP_UNPROCESSABLE_ENTITY;
            break;
        case HIPC_ST_TOO_LARGE:
            status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
            break;
        case HIPC_ST_FORBIDDEN:
            status = NGX_HTTP_FORBIDDEN;
            break;
        case HIPC_ST_BUSY:
        case HIPC_ST_EXPIRED:
            status = NGX_HTTP_SERVICE_UNAVAILABLE;
            break;
        default:
            status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&code, "internal_error");
        ngx_str_set(&message, "the matcher refused a part of the request");

        hipc_reader_init(&rd, call->reply, call->reply_len);

        while (hipc_next(&rd, &tag, &data, &len) == 1) {
            if (len == 0) {
                continue;
            }

            if (tag == HIPC_F_ERR_CODE) {
                code.data = (u_char *) data;
                code.len = len;

            } else if (tag == HIPC_F_MESSAGE) {
                message.data = (u_char *) data;
                message.len = len;

            } else if (tag == HIPC_F_FIELD) {
                field.data = (u_char *) data;
                field.len = len;
            }
        }
    }

    extra = json_pack("{s:s%}", "justification", st->id.data, st->id.len);

    return ngx_http_huella_send_error_extra(st->ctx->request, status, &code,
                                            &message, &field, extra);
}


static void
ngx_http_huella_json_free(void *data)
{
    json_decref(data);
}


/* ---- lists ------------------------------------------------------------ */

static ngx_int_t
ngx_http_huella_list_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t   rc;
    ngx_str_t   scope;

    rc = ngx_http_huella_att_arg(ctx, "scope", &scope);

    if (rc == NGX_DONE) {
        ngx_str_set(&scope, "mine");

    } else if (rc != NGX_OK) {
        return rc;
    }

    if (scope.len == 4 && ngx_strncmp(scope.data, "team", 4) == 0) {
        if (!(ctx->identity->roles & (NGX_HTTP_HUELLA_SUPERVISOR
                                      |NGX_HTTP_HUELLA_AUDITOR
                                      |NGX_HTTP_HUELLA_ADMIN)))
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_FORBIDDEN,
                                          "forbidden", "scope",
                                          "the team's justifications need "
                                          "the supervisor, auditor or "
                                          "admin role");
        }

    } else if (!(scope.len == 4 && ngx_strncmp(scope.data, "mine", 4) == 0))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_scope", "scope",
                                      "scope is mine or team");
    }

    hipc_put(&ctx->writer, HIPC_F_SCOPE, scope.data, scope.len);
    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_notify_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc, n;
    ngx_str_t  value;

    rc = ngx_http_huella_att_arg(ctx, "limit", &value);

    if (rc == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n < 1 || n > 500) {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_limit", "limit",
                                          "limit must be an integer from 1 "
                                          "to 500");
        }

        hipc_put_u32(&ctx->writer, HIPC_F_VALUE, (uint32_t) n);

    } else if (rc != NGX_DONE) {
        return rc;
    }

    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


/* {"justifications":[...]} or {"notifications":[...]} */

static ngx_int_t
ngx_http_huella_array_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t  *list;

    list = ngx_http_huella_reply_doc(rd);

    if (list == NULL || !json_is_array(list)) {
        json_decref(list);
        return ngx_http_huella_malformed(ctx);
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK,
                                     json_pack("{s:o}",
                                               ctx->endpoint
                                               == &ngx_http_huella_notifications
                                               ? "notifications"
                                               : "justifications", list));
}


/* ---- decisions -------------------------------------------------------- */

static ngx_int_t
ngx_http_huella_path_just_id(ngx_http_huella_ctx_t *ctx)
{
    size_t      i;
    ngx_str_t  *id;

    id = &ctx->path_id;

    for (i = 2; i < id->len; i++) {
        if (id->data[i] < '0' || id->data[i] > '9') {
            break;
        }
    }

    if (id->len < 3 || id->len > NGX_HTTP_HUELLA_JUST_ID_MAX
        || id->data[0] != 'J' || id->data[1] != '-' || i < id->len)
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_id", "id",
                                      "a justification id looks like "
                                      "J-00000001");
    }

    hipc_put(&ctx->writer, HIPC_F_JUST_ID, id->data, id->len);

    return NGX_OK;
}


/* {"decision":"approve"|"reject","comment"?} */

static ngx_int_t
ngx_http_huella_decide_encode(ngx_http_huella_ctx_t *ctx)
{
    size_t      i;
    ngx_int_t   rc;
    ngx_str_t   decision, comment;

    rc = ngx_http_huella_path_just_id(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "decision", "decision", 1,
                                &decision);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!(decision.len == 7 && ngx_strncmp(decision.data, "approve", 7) == 0)
        && !(decision.len == 6
             && ngx_strncmp(decision.data, "reject", 6) == 0))
    {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_decision", "decision",
                                      "decision is approve or reject");
    }

    rc = ngx_http_huella_string(ctx, ctx->body, "comment", "comment", 0,
                                &comment);
    if (rc != NGX_OK) {
        return rc;
    }

    if (comment.len > NGX_HTTP_HUELLA_ATT_COMMENT_MAX) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "invalid_text", "comment",
                                      "comment is at most %d bytes",
                                      NGX_HTTP_HUELLA_ATT_COMMENT_MAX);
    }

    for (i = 0; i < comment.len; i++) {
        if ((comment.data[i] < 0x20 && comment.data[i] != '\n'
             && comment.data[i] != '\t')
            || comment.data[i] == 0x7f)
        {
            return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                          "invalid_text", "comment",
                                          "comment has a control "
                                          "character");
        }
    }

    /* a rejection says why */

    if (decision.len == 6 && comment.len == 0) {
        return ngx_http_huella_reject(ctx, NGX_HTTP_UNPROCESSABLE_ENTITY,
                                      "comment_required", "comment",
                                      "a rejection needs a comment for the "
                                      "worker");
    }

    rc = ngx_http_huella_att_test_now(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    hipc_put(&ctx->writer, HIPC_F_DECISION, decision.data, decision.len);

    if (comment.len) {
        hipc_put(&ctx->writer, HIPC_F_COMMENT, comment.data, comment.len);
    }

    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_decide_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    json_t          *doc;
    uint16_t         tag;
    uint32_t         len;
    const uint8_t   *data;

    doc = ngx_http_huella_reply_doc(rd);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return ngx_http_huella_malformed(ctx);
    }

    /* "folio" stays the filing's: the decision has its own */

    hipc_reader_init(rd, ctx->call.reply, ctx->call.reply_len);

    while (hipc_next(rd, &tag, &data, &len) == 1) {
        if (tag == HIPC_F_FOLIO
            && json_object_get(doc, "decision_folio") == NULL)
        {
            json_object_set_new(doc, "decision_folio",
                                json_stringn((const char *) data, len));

        } else if (tag == HIPC_F_RECEIPT) {
            json_object_set_new(doc, "receipt",
                                json_stringn((const char *) data, len));
        }
    }

    return ngx_http_huella_send_json(ctx->request, NGX_HTTP_OK, doc);
}


/* ---- the attachment back ---------------------------------------------- */

static ngx_int_t
ngx_http_huella_get_encode(ngx_http_huella_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_huella_path_just_id(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_huella_att_caller(ctx);

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_get_decode(ngx_http_huella_ctx_t *ctx,
    struct hipc_reader *rd)
{
    ngx_int_t                  rc;
    ngx_http_huella_chunks_t  *st;

    st = ngx_pcalloc(ctx->request->pool, sizeof(ngx_http_huella_chunks_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->ctx = ctx;
    st->id = ctx->path_id;
    st->total = (size_t) -1;

    rc = ngx_http_huella_get_chunk(st, rd);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_huella_get_next(st);
}


/* takes one chunk of a GET reply: NGX_OK, or a response's rc */

static ngx_int_t
ngx_http_huella_get_chunk(ngx_http_huella_chunks_t *st,
    struct hipc_reader *rd)
{
    uint16_t        tag;
    uint32_t        len, total;
    ngx_str_t       chunk, type;
    ngx_uint_t      have_total;
    const uint8_t  *data;

    ngx_str_null(&chunk);
    ngx_str_null(&type);
    have_total = 0;
    total = 0;

    while (hipc_next(rd, &tag, &data, &len) == 1) {

        switch (tag) {

        case HIPC_F_ATTACHMENT:
            chunk.data = (u_char *) data;
            chunk.len = len;
            break;

        case HIPC_F_ATTACHMENT_TYPE:
            type.data = (u_char *) data;
            type.len = len;
            break;

        case HIPC_F_TOTAL:
            have_total = (hipc_get_u32(data, len, &total) == 0);
            break;
        }
    }

    if (!have_total || total > NGX_HTTP_HUELLA_ATTACHMENT_CAP
        || (st->data && total != st->total)
        || st->done + chunk.len > total
        || (chunk.len == 0 && st->done < total))
    {
        (void) ngx_http_huella_malformed(st->ctx);
        return ngx_http_huella_send_error(st->ctx->request,
                                          st->ctx->status, &st->ctx->code,
                                          &st->ctx->message, NULL);
    }

    if (st->data == NULL) {
        st->total = total;
        st->type = type;

        st->data = ngx_pnalloc(st->ctx->request->pool, total ? total : 1);
        if (st->data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_memcpy(st->data + st->done, chunk.data, chunk.len);
    st->done += chunk.len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_huella_get_next(ngx_http_huella_chunks_t *st)
{
    struct hipc_writer  w;

    if (st->done == st->total) {
        return ngx_http_huella_get_send(st);
    }

    hipc_writer_init(&w, ngx_pnalloc(st->ctx->request->pool,
                                     NGX_HTTP_HUELLA_CHUNK_SLACK),
                     NGX_HTTP_HUELLA_CHUNK_SLACK);
    if (w.buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hipc_put(&w, HIPC_F_JUST_ID, st->id.data, st->id.len);
    hipc_put_u32(&w, HIPC_F_OFFSET, (uint32_t) st->done);

    st->call.data = st;
    st->call.handler = ngx_http_huella_get_done;
    st->call.request = st->ctx->request;

    return ngx_http_huella_chain_call(st, HIPC_OP_JUSTIFY_ATTACHMENT_GET, &w);
}


static void
ngx_http_huella_get_done(ngx_http_huella_call_t *call)
{
    ngx_int_t                  rc;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    struct hipc_reader         rd;
    ngx_http_huella_chunks_t  *st;

    st = call->data;
    r = st->ctx->request;
    c = r->connection;

    if (call->rc == NGX_HTTP_HUELLA_REPLY && call->status == HIPC_ST_OK) {
        hipc_reader_init(&rd, call->reply, call->reply_len);

        rc = ngx_http_huella_get_chunk(st, &rd);

        if (rc == NGX_OK) {
            rc = ngx_http_huella_get_next(st);
        }

    } else {
        rc = ngx_http_huella_chain_error(st);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_huella_get_send(ngx_http_huella_chunks_t *st)
{
    u_char      *p;
    ngx_str_t    type, disposition, ext;
    ngx_uint_t   i;

    /* only the types the module accepted are served as themselves */

    ngx_str_set(&type, "application/octet-stream");
    ngx_str_set(&ext, "bin");

    for (i = 0; ngx_http_huella_attachment_types[i]; i++) {
        if (st->type.len == ngx_strlen(ngx_http_huella_attachment_types[i])
            && ngx_strncmp(st->type.data,
                           ngx_http_huella_attachment_types[i],
                           st->type.len) == 0)
        {
            type.data = (u_char *) ngx_http_huella_attachment_types[i];
            type.len = st->type.len;
            ext.data = (u_char *) ngx_strchr(type.data, '/') + 1;
            ext.len = type.len - (ext.data - type.data);
            break;
        }
    }

    p = ngx_pnalloc(st->ctx->request->pool,
                    sizeof("attachment; filename=\"justificante_.\"")
                    + st->id.len + ext.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    disposition.data = p;
    disposition.len = ngx_sprintf(p, "attachment; filename=\"justificante_"
                                  "%V.%V\"", &st->id, &ext)
                      - p;

    return ngx_http_huella_att_send_bytes(st->ctx->request, &type,
                                          &disposition, st->data,
                                          st->total);
}
