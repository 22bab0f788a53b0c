/*
 * ngx_stubs.c -- the few nginx core functions the module's parsers call
 * (ngx_module/ngx_http_huella_sf.c, ngx_http_huella_fields.c), for the
 * fuzz targets that build them against nginx-dev's headers without
 * nginx's sources.
 *
 * Every pool allocation is its own malloc(), so AddressSanitizer sees
 * the exact size asked for; ngx_fuzz_pool_reset() runs the cleanups and
 * frees them all at the end of an iteration (LeakSanitizer then reports
 * anything a parser kept outside its pool).  ngx_vslprintf() implements
 * the conversions of nginx's (%[0][width][u][x|X][*]{V,s,c,d,i,z,l,L,D,
 * T,O,p,Z,N,%}) and, like nginx, never writes at or past last.
 */

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_stubs.h"


typedef struct ngx_fuzz_block_s  ngx_fuzz_block_t;

struct ngx_fuzz_block_s {
    ngx_fuzz_block_t  *next;
};


static ngx_fuzz_block_t    *blocks;
static ngx_pool_cleanup_t  *cleanups;


static void *
ngx_fuzz_alloc(size_t size)
{
    ngx_fuzz_block_t  *b;

    /* the block header in front; ASan checks the bytes after size */
    b = malloc(sizeof(ngx_fuzz_block_t) + size);
    if (b == NULL) {
        abort();
    }

    b->next = blocks;
    blocks = b;

    return b + 1;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    (void) pool;
    return ngx_fuzz_alloc(size);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    (void) pool;
    return ngx_fuzz_alloc(size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    (void) pool;
    return memset(ngx_fuzz_alloc(size), 0, size);
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    (void) p;

    c = ngx_fuzz_alloc(sizeof(ngx_pool_cleanup_t));
    c->data = size ? ngx_fuzz_alloc(size) : NULL;
    c->handler = NULL;
    c->next = cleanups;
    cleanups = c;

    return c;
}


void
ngx_fuzz_pool_reset(void)
{
    ngx_fuzz_block_t    *b;
    ngx_pool_cleanup_t  *c;

    for (c = cleanups; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    cleanups = NULL;

    while (blocks) {
        b = blocks;
        blocks = b->next;
        free(b);
    }
}


static u_char *
ngx_fuzz_num(u_char *buf, u_char *last, uint64_t n, u_char zero,
    ngx_uint_t hex, size_t width)
{
    u_char   tmp[NGX_INT64_LEN + 1], *p;
    size_t   len;
    const char  *digits;

    digits = (hex == 2) ? "0123456789ABCDEF" : "0123456789abcdef";
    p = tmp + sizeof(tmp);

    do {
        *--p = (u_char) digits[hex ? n % 16 : n % 10];
        n = hex ? n / 16 : n / 10;
    } while (n);

    len = tmp + sizeof(tmp) - p;

    while (len < width-- && buf < last) {
        *buf++ = zero;
    }

    while (p < tmp + sizeof(tmp) && buf < last) {
        *buf++ = *p++;
    }

    return buf;
}


u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *p, zero;
    size_t       width, slen, len;
    int64_t      i64;
    uint64_t     ui64;
    ngx_str_t   *v;
    ngx_uint_t   hex, sign;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = (u_char) *fmt++;
            continue;
        }

        fmt++;
        zero = (u_char) ((*fmt == '0') ? '0' : ' ');
        width = 0;
        sign = 1;
        hex = 0;
        slen = (size_t) -1;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {
            case 'u':
                sign = 0;
                fmt++;
                continue;
            case 'x':
                hex = 1;
                sign = 0;
                fmt++;
                continue;
            case 'X':
                hex = 2;
                sign = 0;
                fmt++;
                continue;
            case '*':
                slen = va_arg(args, size_t);
                fmt++;
                continue;
            }
            break;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - buf), v->len);
            buf = ngx_cpymem(buf, v->data, len);
            fmt++;
            continue;

        case 's':
            p = va_arg(args, u_char *);
            while (slen-- && *p && buf < last) {
                *buf++ = *p++;
            }
            fmt++;
            continue;

        case 'c':
            *buf++ = (u_char) (va_arg(args, int) & 0xff);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = LF;
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        case 'p':
            ui64 = (uintptr_t) va_arg(args, void *);
            hex = 1;
            sign = 0;
            zero = '0';
            width = 2 * sizeof(void *);
            break;

        case 'O':
            i64 = va_arg(args, off_t);
            sign = 1;
            ui64 = (uint64_t) i64;
            break;

        case 'T':
            i64 = va_arg(args, time_t);
            sign = 1;
            ui64 = (uint64_t) i64;
            break;

        case 'z':
            if (sign) {
                i64 = va_arg(args, ssize_t);
            } else {
                ui64 = va_arg(args, size_t);
            }
            break;

        case 'i':
            if (sign) {
                i64 = va_arg(args, ngx_int_t);
            } else {
                ui64 = va_arg(args, ngx_uint_t);
            }
            break;

        case 'd':
            if (sign) {
                i64 = va_arg(args, int);
            } else {
                ui64 = va_arg(args, u_int);
            }
            break;

        case 'l':
            if (sign) {
                i64 = va_arg(args, long);
            } else {
                ui64 = va_arg(args, u_long);
            }
            break;

        case 'D':
            if (sign) {
                i64 = va_arg(args, int32_t);
            } else {
                ui64 = va_arg(args, uint32_t);
            }
            break;

        case 'L':
            if (sign) {
                i64 = va_arg(args, int64_t);
            } else {
                ui64 = va_arg(args, uint64_t);
            }
            break;

        default:
            /* as nginx: an unknown conversion is copied */
            if (*fmt) {
                *buf++ = (u_char) *fmt++;
            }
            continue;
        }

        if (sign) {
            if (i64 < 0) {
                *buf++ = '-';
                ui64 = (uint64_t) 0 - (uint64_t) i64;

            } else {
                ui64 = (uint64_t) i64;
            }
        }

        buf = ngx_fuzz_num(buf, last, ui64, zero, hex, width);
        fmt++;
    }

    return buf;
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);

    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);

    return p;
}


/* nginx's ngx_decode_base64(): standard alphabet, padding optional */

ngx_int_t
ngx_decode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    size_t         len;
    u_char        *d, *s;
    int            c;
    static int8_t  basis[256];
    static int     ready;
    const char    *alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    if (!ready) {
        memset(basis, -1, sizeof(basis));
        for (c = 0; c < 64; c++) {
            basis[(u_char) alphabet[c]] = (int8_t) c;
        }
        ready = 1;
    }

    for (len = 0; len < src->len; len++) {
        if (src->data[len] == '=') {
            break;
        }

        if (basis[src->data[len]] < 0) {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    s = src->data;
    d = dst->data;

    while (len > 3) {
        *d++ = (u_char) (basis[s[0]] << 2 | basis[s[1]] >> 4);
        *d++ = (u_char) (basis[s[1]] << 4 | basis[s[2]] >> 2);
        *d++ = (u_char) (basis[s[2]] << 6 | basis[s[3]]);

        s += 4;
        len -= 4;
    }

    if (len > 1) {
        *d++ = (u_char) (basis[s[0]] << 2 | basis[s[1]] >> 4);
    }

    if (len > 2) {
        *d++ = (u_char) (basis[s[1]] << 4 | basis[s[2]] >> 2);
    }

    dst->len = d - dst->data;

    return NGX_OK;
}
