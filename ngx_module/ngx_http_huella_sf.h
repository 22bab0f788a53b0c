
/*
 * The grammar of the signature headers (ngx_http_huella_sf.c): strict
 * RFC 8941 parsers for Signature-Input, Signature and Content-Digest as
 * profiled in docs/devices.md, and the RFC 9421 signature base.
 */


#ifndef _NGX_HTTP_HUELLA_SF_H_INCLUDED_
#define _NGX_HTTP_HUELLA_SF_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_HUELLA_SIG_MAX_COMPONENTS  3
#define NGX_HTTP_HUELLA_SIG_MAX_PARAMS      6
#define NGX_HTTP_HUELLA_SIG_KEYID_MAX       64
#define NGX_HTTP_HUELLA_SIG_NONCE_MIN       8
#define NGX_HTTP_HUELLA_SIG_NONCE_MAX       128
#define NGX_HTTP_HUELLA_SIG_B64_MAX         1024
#define NGX_HTTP_HUELLA_SIG_HEADER_MAX      4096


/* a parsed Signature-Input member; strings point into the header */
typedef struct {
    ngx_str_t                  label;
    ngx_str_t                  components[NGX_HTTP_HUELLA_SIG_MAX_COMPONENTS];
    ngx_uint_t                 ncomponents;

    ngx_str_t                  pname[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    ngx_str_t                  pstr[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    int64_t                    pint[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    ngx_uint_t                 pisint[NGX_HTTP_HUELLA_SIG_MAX_PARAMS];
    ngx_uint_t                 nparams;

    int64_t                    created;
    int64_t                    expires;
    ngx_str_t                  keyid;
    ngx_str_t                  nonce;
    ngx_str_t                  alg;
    unsigned                   has_created:1;
    unsigned                   has_expires:1;
} ngx_http_huella_sig_input_t;


/*
 * LABEL=("@method" "@path" "content-digest");created=..;keyid=..;nonce=..
 * into in (zeroed by the caller): NGX_OK, or NGX_DECLINED with error set
 */
ngx_int_t ngx_http_huella_sig_parse_input(ngx_str_t *value,
    ngx_http_huella_sig_input_t *in, char **error);

/*
 * LABEL=:base64: with exactly that label, out decoded in pool: NGX_OK,
 * NGX_DECLINED (error set) or NGX_ERROR
 */
ngx_int_t ngx_http_huella_sig_parse_bytes(ngx_pool_t *pool,
    ngx_str_t *value, ngx_str_t *label, ngx_str_t *out, char **error);

/* the signature base of a parsed input, in pool: NGX_OK or NGX_ERROR */
ngx_int_t ngx_http_huella_sig_base(ngx_pool_t *pool,
    ngx_http_huella_sig_input_t *in, ngx_str_t *method, ngx_str_t *path,
    ngx_str_t *digest, ngx_str_t *base);


#endif /* _NGX_HTTP_HUELLA_SF_H_INCLUDED_ */
