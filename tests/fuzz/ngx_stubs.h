/*
 * ngx_stubs.h -- see ngx_stubs.c: nginx core functions for the fuzz
 * targets of the module's parsers.
 */

#ifndef NGX_STUBS_H
#define NGX_STUBS_H

/* runs the pool cleanups and frees every pool allocation */
void ngx_fuzz_pool_reset(void);

#endif

