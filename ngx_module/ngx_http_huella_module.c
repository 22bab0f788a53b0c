
/*
 * Huella module: directives, configuration, module context and the process
 * hooks.  init_process attaches each worker to huellad (see
 * ngx_http_huella_link.c); exit_process detaches it.  Everything the
 * directives get wrong is reported by "nginx -t".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <sys/un.h>

#include "ngx_http_huella_module.h"
#include "ngx_http_huella_link.h"
#include "ngx_http_huella_auth.h"
#include "ngx_http_huella_signature.h"


#define NGX_HTTP_HUELLA_TOKEN_MIN  16
#define NGX_HTTP_HUELLA_TOKEN_MAX  4096


static ngx_int_t ngx_http_huella_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_huella_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_huella_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_huella_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_huella_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_huella_matcher(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_huella_token_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_huella_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_huella_deadline_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_huella_max_body_check(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_huella_init_process(ngx_cycle_t *cycle);


static ngx_conf_post_handler_pt  ngx_http_huella_deadline_post =
    ngx_http_huella_deadline_check;

static ngx_conf_post_handler_pt  ngx_http_huella_max_body_post =
    ngx_http_huella_max_body_check;
static void ngx_http_huella_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_huella_commands[] = {

    { ngx_string("huella_matcher"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_huella_matcher,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("huella_admin_token_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_huella_token_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("huella_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_huella_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_huella_loc_conf_t, enable),
      NULL },

    { ngx_string("huella_deadline"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_huella_loc_conf_t, deadline),
      &ngx_http_huella_deadline_post },

    { ngx_string("huella_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_huella_loc_conf_t, max_body),
      &ngx_http_huella_max_body_post },

    { ngx_string("huella_session_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_huella_session_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("huella_session_idle"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_huella_main_conf_t, session_idle),
      NULL },

    { ngx_string("huella_session_absolute"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_huella_main_conf_t, session_absolute),
      NULL },

    { ngx_string("huella_session_sync"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_huella_session_sync,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("huella_token_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_huella_main_conf_t, token_cache_ttl),
      NULL },

    { ngx_string("huella_signature_nonce_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_huella_nonce_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("huella_signature_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_huella_main_conf_t, signature_window),
      NULL },

    { ngx_string("huella_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_huella_loc_conf_t, auth),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_huella_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_huella_postconfiguration,     /* postconfiguration */

    ngx_http_huella_create_main_conf,      /* create main configuration */
    ngx_http_huella_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_huella_create_loc_conf,       /* create location configuration */
    ngx_http_huella_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_huella_module = {
    NGX_MODULE_V1,
    &ngx_http_huella_module_ctx,           /* module context */
    ngx_http_huella_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_huella_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_huella_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_huella_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_huella_main_conf_t  *hmcf;

    hmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_huella_main_conf_t));
    if (hmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     hmcf->matcher = { 0, NULL };
     *     hmcf->token_file = { 0, NULL };
     *     hmcf->token = { 0, NULL };
     *     hmcf->session_zone = NULL;
     */

    hmcf->session_idle = NGX_CONF_UNSET;
    hmcf->session_absolute = NGX_CONF_UNSET;
    hmcf->token_cache_ttl = NGX_CONF_UNSET;
    hmcf->session_sync = NGX_CONF_UNSET_MSEC;
    hmcf->signature_window = NGX_CONF_UNSET;

    return hmcf;
}


static char *
ngx_http_huella_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    ngx_conf_init_value(hmcf->session_idle, 15 * 60);
    ngx_conf_init_value(hmcf->session_absolute, 8 * 60 * 60);
    ngx_conf_init_value(hmcf->token_cache_ttl, 30);
    ngx_conf_init_msec_value(hmcf->session_sync, 2000);
    ngx_conf_init_value(hmcf->signature_window, 300);

    if (hmcf->signature_window <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"huella_signature_window\" must be greater "
                           "than zero");
        return NGX_CONF_ERROR;
    }

    if (hmcf->session_idle <= 0 || hmcf->session_absolute <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"huella_session_idle\" and "
                           "\"huella_session_absolute\" must be greater "
                           "than zero");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_huella_postconfiguration(ngx_conf_t *cf)
{
    return ngx_http_huella_access_init(cf);
}


static void *
ngx_http_huella_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_huella_loc_conf_t  *hlcf;

    hlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_huella_loc_conf_t));
    if (hlcf == NULL) {
        return NULL;
    }

    hlcf->enable = NGX_CONF_UNSET;
    hlcf->deadline = NGX_CONF_UNSET_MSEC;
    hlcf->max_body = NGX_CONF_UNSET_SIZE;
    hlcf->auth = NGX_CONF_UNSET;

    return hlcf;
}


static char *
ngx_http_huella_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_huella_loc_conf_t *prev = parent;
    ngx_http_huella_loc_conf_t *conf = child;

    ngx_http_huella_main_conf_t  *hmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_msec_value(conf->deadline, prev->deadline, 2000);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              1024 * 1024);
    ngx_conf_merge_value(conf->auth, prev->auth, 0);

    if (conf->enable && conf != prev && prev->enable != 1) {

        /* the whole http block is parsed: the main conf is complete */

        hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_huella_module);

        if (hmcf->matcher.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"huella_api\" needs \"huella_matcher\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }

        if (hmcf->token.len == 0) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"huella_api\" without "
                               "\"huella_admin_token_file\": every API "
                               "call but /healthz will be refused");
        }

        if (hmcf->session_zone == NULL) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "\"huella_api\" without "
                               "\"huella_session_zone\": logins will "
                               "fail and tokens are not cached");
        }
    }

    if (conf->auth && conf != prev && prev->auth != 1) {
        hmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_huella_module);

        if (hmcf->matcher.len == 0 || hmcf->session_zone == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"huella_auth\" needs \"huella_matcher\" "
                               "and \"huella_session_zone\" in the http "
                               "block");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_matcher(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    ngx_str_t           *value;
    struct sockaddr_un   sun;

    if (hmcf->matcher.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty path in \"%V\" directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        value[1].len -= 5;
        value[1].data += 5;
    }

    if (ngx_conf_full_name(cf->cycle, &value[1], 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (value[1].len >= sizeof(sun.sun_path)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "socket path \"%V\" in \"%V\" is longer than "
                           "%uz bytes", &value[1], &cmd->name,
                           sizeof(sun.sun_path) - 1);
        return NGX_CONF_ERROR;
    }

    hmcf->matcher = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_token_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_main_conf_t *hmcf = conf;

    u_char           *p, *last;
    ssize_t           n;
    ngx_str_t        *value;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (hmcf->token_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_conf_full_name(cf->cycle, &value[1], 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    hmcf->token_file = value[1];

    ngx_memzero(&file, sizeof(ngx_file_t));

    file.name = value[1];
    file.log = cf->log;

    file.fd = ngx_open_file(value[1].data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", &value[1]);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a regular file", &value[1]);
        goto failed;
    }

    if (ngx_file_size(&fi) > NGX_HTTP_HUELLA_TOKEN_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "admin token file \"%V\" is larger than %d bytes",
                           &value[1], NGX_HTTP_HUELLA_TOKEN_MAX);
        goto failed;
    }

    if (ngx_file_access(&fi) & 0077) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "admin token file \"%V\" is accessible by group "
                           "or others, mode 0600 is advised", &value[1]);
    }

    p = ngx_pnalloc(cf->pool, NGX_HTTP_HUELLA_TOKEN_MAX);
    if (p == NULL) {
        goto failed;
    }

    n = ngx_read_file(&file, p, NGX_HTTP_HUELLA_TOKEN_MAX, 0);

    if (n == NGX_ERROR) {
        goto failed;
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &value[1]);
    }

    last = p + n;

    while (p < last && (*p == ' ' || *p == '\t' || *p == CR || *p == LF)) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || last[-1] == '\t'
               || last[-1] == CR || last[-1] == LF))
    {
        last--;
    }

    if (last - p < NGX_HTTP_HUELLA_TOKEN_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "admin token in \"%V\" is shorter than %d "
                           "characters", &value[1], NGX_HTTP_HUELLA_TOKEN_MIN);
        return NGX_CONF_ERROR;
    }

    for (hmcf->token.data = p; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "admin token in \"%V\" contains a space or "
                               "a non-printable character", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    hmcf->token.len = last - hmcf->token.data;

    return NGX_CONF_OK;

failed:

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%V\" failed", &value[1]);
    }

    return NGX_CONF_ERROR;
}


static char *
ngx_http_huella_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_huella_loc_conf_t *hlcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if (hlcf->enable) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        clcf->handler = ngx_http_huella_handler;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_deadline_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *deadline = data;

    if (*deadline == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_huella_max_body_check(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *max_body = data;

    if (*max_body == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_huella_init_process(ngx_cycle_t *cycle)
{
    ngx_http_huella_main_conf_t  *hmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    hmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_huella_module);

    if (hmcf == NULL || hmcf->matcher.len == 0) {
        return NGX_OK;
    }

    if (ngx_http_huella_link_init(cycle, &hmcf->matcher) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_huella_sync_init(cycle, hmcf);
}


static void
ngx_http_huella_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_huella_link_exit(cycle);
}
