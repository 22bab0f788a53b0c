
/*
 * CURP and NSS validation (DESIGN.md section 3).
 *
 * CURP: 18 characters, AAAA YYMMDD S EE CCC D V:
 *   four letters from the names, the birth date, the sex (H, M, or X),
 *   the two-letter state code (NE: born abroad), three internal
 *   consonants, a differentiator (a digit for births before 2000, a letter
 *   from 2000 on, which fixes the century of the date) and the check digit:
 *   the weighted sum (weights 18..2) of the first 17 characters' values in
 *   "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ", then (10 - sum % 10) % 10.
 *   Ñ is never written in a CURP (X replaces it) but shifts the values.
 *
 * NSS: 11 digits whose last one is the Luhn check digit of the first ten.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_huella_ident.h"


static ngx_int_t ngx_http_huella_curp_value(u_char c);
static ngx_uint_t ngx_http_huella_is_letter(u_char c);
static ngx_uint_t ngx_http_huella_is_consonant(u_char c);


static const char  *ngx_http_huella_curp_states[] = {
    "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR",
    "HG", "JC", "MC", "MN", "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP",
    "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE", NULL
};


char *
ngx_http_huella_curp_check(u_char *curp, size_t len)
{
    ngx_int_t    v, sum, year, month, day, mdays;
    ngx_uint_t   i;

    if (len != NGX_HTTP_HUELLA_CURP_LEN) {
        return "a CURP has exactly 18 characters";
    }

    for (i = 0; i < 4; i++) {
        if (!ngx_http_huella_is_letter(curp[i])) {
            return "CURP characters 1 to 4 must be letters A-Z";
        }
    }

    for (i = 4; i < 10; i++) {
        if (curp[i] < '0' || curp[i] > '9') {
            return "CURP characters 5 to 10 must be the birth date YYMMDD";
        }
    }

    if (curp[10] != 'H' && curp[10] != 'M' && curp[10] != 'X') {
        return "CURP character 11 (sex) must be H, M or X";
    }

    for (i = 0; ngx_http_huella_curp_states[i]; i++) {
        if (curp[11] == ngx_http_huella_curp_states[i][0]
            && curp[12] == ngx_http_huella_curp_states[i][1])
        {
            break;
        }
    }

    if (ngx_http_huella_curp_states[i] == NULL) {
        return "CURP characters 12 and 13 are not a Mexican state code";
    }

    for (i = 13; i < 16; i++) {
        if (!ngx_http_huella_is_consonant(curp[i])) {
            return "CURP characters 14 to 16 must be consonants";
        }
    }

    if (curp[16] >= '0' && curp[16] <= '9') {
        year = 1900;

    } else if (ngx_http_huella_is_letter(curp[16])) {
        year = 2000;

    } else {
        return "CURP character 17 must be a digit or a letter";
    }

    if (curp[17] < '0' || curp[17] > '9') {
        return "CURP character 18 (check digit) must be a digit";
    }

    year += (curp[4] - '0') * 10 + (curp[5] - '0');
    month = (curp[6] - '0') * 10 + (curp[7] - '0');
    day = (curp[8] - '0') * 10 + (curp[9] - '0');

    if (month < 1 || month > 12) {
        return "CURP birth date has an invalid month";
    }

    switch (month) {
    case 2:
        mdays = (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
                ? 29 : 28;
        break;
    case 4:
    case 6:
    case 9:
    case 11:
        mdays = 30;
        break;
    default:
        mdays = 31;
    }

    if (day < 1 || day > mdays) {
        return "CURP birth date has an invalid day for its month";
    }

    sum = 0;

    for (i = 0; i < 17; i++) {
        v = ngx_http_huella_curp_value(curp[i]);
        sum += v * (18 - i);
    }

    if ((10 - sum % 10) % 10 != curp[17] - '0') {
        return "CURP check digit does not match";
    }

    return NULL;
}


char *
ngx_http_huella_nss_check(u_char *nss, size_t len)
{
    ngx_int_t   d, sum;
    ngx_uint_t  i;

    if (len != NGX_HTTP_HUELLA_NSS_LEN) {
        return "an NSS has exactly 11 digits";
    }

    sum = 0;

    for (i = 0; i < len; i++) {
        if (nss[i] < '0' || nss[i] > '9') {
            return "an NSS has only digits";
        }

        d = nss[i] - '0';

        /* from the right, every second digit is doubled */

        if ((len - 1 - i) % 2 == 1) {
            d *= 2;

            if (d > 9) {
                d -= 9;
            }
        }

        sum += d;
    }

    if (sum % 10 != 0) {
        return "NSS check digit (Luhn) does not match";
    }

    return NULL;
}


static ngx_int_t
ngx_http_huella_curp_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    /* A..N are 10..23, Ñ is 24, O..Z are 25..36 */

    if (c >= 'A' && c <= 'N') {
        return c - 'A' + 10;
    }

    return c - 'O' + 25;
}


static ngx_uint_t
ngx_http_huella_is_letter(u_char c)
{
    return c >= 'A' && c <= 'Z';
}


static ngx_uint_t
ngx_http_huella_is_consonant(u_char c)
{
    return ngx_http_huella_is_letter(c)
           && c != 'A' && c != 'E' && c != 'I' && c != 'O' && c != 'U';
}
