
/*
 * RFC validation (DESIGN.md section 3): the tax authority's taxpayer key.
 *
 * A person's RFC has 13 characters, AAAA YYMMDD HHD: four letters from the
 * names, the birth date, and the homoclave; a company's has 12, three
 * letters and the date of incorporation.  Letters are A-Z, "&" and "Ñ"
 * (one character, two bytes in UTF-8).  The homoclave's last character is
 * a check digit: each of the first 12 characters of the RFC (a company's
 * padded with a leading space to 13) takes its value in the tax
 * authority's dictionary "0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ Ñ" (0 to
 * 38), weighted 13 down to 2; the digit is 11 - sum % 11, with 11 written
 * "0" and 10 written "A".
 *
 * A wrong check digit is only a warning: about 1.5% of the RFCs in use
 * fail it, the tax authority's own test RFC AAA010101AAA among them.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_huella_ident.h"


#define NGX_HTTP_HUELLA_RFC_ENYE   0xd1     /* Ñ, once decoded */


static ngx_int_t ngx_http_huella_rfc_value(u_char c);
static ngx_uint_t ngx_http_huella_rfc_letter(u_char c);


/*
 * rfc: the RFC as given (UTF-8, upper or lower case).  Returns NULL when
 * valid, else the rule that was broken; *warning is set to a snake_case
 * warning or NULL, *company to 1 for a company's RFC.
 */

char *
ngx_http_huella_rfc_check(u_char *rfc, size_t len, char **warning,
    ngx_uint_t *company)
{
    u_char      c[NGX_HTTP_HUELLA_RFC_LEN + 1], d;
    size_t      i, n, k;
    ngx_int_t   sum, v, year, month, day, mdays, check;

    *warning = NULL;
    *company = 0;

    /* decode: ASCII upper-cased, "Ñ"/"ñ" as one character */

    for (i = 0, n = 0; i < len; n++) {

        if (n == NGX_HTTP_HUELLA_RFC_LEN) {
            return "an RFC has 12 (company) or 13 (person) characters";
        }

        if (rfc[i] == 0xc3 && i + 1 < len
            && (rfc[i + 1] == 0x91 || rfc[i + 1] == 0xb1))
        {
            c[n] = NGX_HTTP_HUELLA_RFC_ENYE;
            i += 2;
            continue;
        }

        if (rfc[i] >= 0x80) {
            return "an RFC has only the letters A-Z, \"&\" and \"\xc3\x91\" "
                   "and digits";
        }

        c[n] = ngx_toupper(rfc[i]);
        i++;
    }

    if (n != NGX_HTTP_HUELLA_RFC_LEN && n != NGX_HTTP_HUELLA_RFC_LEN - 1) {
        return "an RFC has 12 (company) or 13 (person) characters";
    }

    k = n - 9;       /* letters: 3 for a company, 4 for a person */

    *company = (k == 3);

    for (i = 0; i < k; i++) {
        if (!ngx_http_huella_rfc_letter(c[i])) {
            return (k == 3)
                   ? "a company's RFC starts with 3 letters (A-Z, & or "
                     "\xc3\x91)"
                   : "a person's RFC starts with 4 letters (A-Z, & or "
                     "\xc3\x91)";
        }
    }

    for (i = k; i < k + 6; i++) {
        if (c[i] < '0' || c[i] > '9') {
            return "the RFC's date must be 6 digits YYMMDD after the "
                   "letters";
        }
    }

    year = (c[k] - '0') * 10 + (c[k + 1] - '0');
    month = (c[k + 2] - '0') * 10 + (c[k + 3] - '0');
    day = (c[k + 4] - '0') * 10 + (c[k + 5] - '0');

    if (month < 1 || month > 12) {
        return "the RFC's date has an invalid month";
    }

    switch (month) {
    case 2:
        /* "00" is 2000, a leap year */
        mdays = (year % 4 == 0) ? 29 : 28;
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
        return "the RFC's date has an invalid day for its month";
    }

    for (i = k + 6; i < n; i++) {
        d = c[i];

        if (!((d >= 'A' && d <= 'Z') || (d >= '0' && d <= '9'))) {
            return "the RFC's homoclave (last 3 characters) must be letters "
                   "A-Z or digits";
        }
    }

    if (!((c[n - 1] >= '0' && c[n - 1] <= '9') || c[n - 1] == 'A')) {
        return "the RFC's last character (check digit) must be a digit or "
               "\"A\"";
    }

    /* the check digit: a company's RFC is padded with a leading space */

    sum = (k == 3) ? 37 * 13 : 0;

    for (i = 0; i < n - 1; i++) {
        v = ngx_http_huella_rfc_value(c[i]);
        sum += v * (ngx_int_t) (n - i);
    }

    check = 11 - sum % 11;

    d = (check == 11) ? '0' : (check == 10) ? 'A' : (u_char) ('0' + check);

    if (d != c[n - 1]) {
        *warning = "check_digit_mismatch";
    }

    return NULL;
}


static ngx_int_t
ngx_http_huella_rfc_value(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'A' && c <= 'N') {
        return c - 'A' + 10;
    }

    if (c == '&') {
        return 24;
    }

    if (c >= 'O' && c <= 'Z') {
        return c - 'O' + 25;
    }

    if (c == ' ') {
        return 37;
    }

    return 38;      /* Ñ */
}


static ngx_uint_t
ngx_http_huella_rfc_letter(u_char c)
{
    return (c >= 'A' && c <= 'Z') || c == '&'
           || c == NGX_HTTP_HUELLA_RFC_ENYE;
}
