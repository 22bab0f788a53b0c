
/*
 * Mexican identifiers: CURP, NSS and RFC validation.
 */


#ifndef _NGX_HTTP_HUELLA_IDENT_H_INCLUDED_
#define _NGX_HTTP_HUELLA_IDENT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HTTP_HUELLA_CURP_LEN  18
#define NGX_HTTP_HUELLA_NSS_LEN   11
#define NGX_HTTP_HUELLA_RFC_LEN   13       /* a person's; a company's 12 */


/* each returns NULL when valid, else the rule that was broken */
char *ngx_http_huella_curp_check(u_char *curp, size_t len);
char *ngx_http_huella_nss_check(u_char *nss, size_t len);
char *ngx_http_huella_rfc_check(u_char *rfc, size_t len, char **warning,
    ngx_uint_t *company);


#endif /* _NGX_HTTP_HUELLA_IDENT_H_INCLUDED_ */
