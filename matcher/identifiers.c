/*
 * identifiers.c -- CURP, NSS, RFC and e-mail checks for huellad.
 *
 * CURP: AAAA YYMMDD S EE CCC D V.  The differentiator D is a digit for
 * births before 2000 and a letter from 2000 on (it fixes the century); the
 * check digit V is (10 - sum(value(c_i) * (18 - i)) % 10) % 10 over the
 * first 17 characters, values from "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ"
 * (Ñ never appears in a CURP but shifts the letters after N).
 */

#include "identifiers.h"

#include <string.h>

static const char *const curp_states[] = {
    "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR",
    "HG", "JC", "MC", "MN", "MS", "NT", "NL", "OC", "PL", "QT", "QR", "SP",
    "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE", NULL
};

static int
is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_consonant(char c)
{
    return is_upper(c) && strchr("AEIOU", c) == NULL;
}

static int
curp_value(char c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    /* A..N = 10..23, then Ñ = 24, O..Z = 25..36 */
    return c <= 'N' ? c - 'A' + 10 : c - 'A' + 11;
}

static int
days_in_month(int year, int month)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                 31 };

    if (month == 2 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
    {
        return 29;
    }
    return days[month - 1];
}

const char *
id_curp_check(const char *s, size_t len)
{
    int     i, sum = 0, year, month, day;
    size_t  k;

    if (len != ID_CURP_LEN) {
        return "a CURP has exactly 18 characters";
    }
    for (i = 0; i < 4; i++) {
        if (!is_upper(s[i])) {
            return "CURP characters 1 to 4 must be letters A-Z";
        }
    }
    for (i = 4; i < 10; i++) {
        if (!is_digit(s[i])) {
            return "CURP characters 5 to 10 must be the birth date YYMMDD";
        }
    }
    if (s[10] != 'H' && s[10] != 'M' && s[10] != 'X') {
        return "CURP character 11 (sex) must be H, M or X";
    }
    for (k = 0; curp_states[k]; k++) {
        if (s[11] == curp_states[k][0] && s[12] == curp_states[k][1]) {
            break;
        }
    }
    if (curp_states[k] == NULL) {
        return "CURP characters 12 and 13 are not a Mexican state code";
    }
    for (i = 13; i < 16; i++) {
        if (!is_consonant(s[i])) {
            return "CURP characters 14 to 16 must be consonants";
        }
    }
    if (!is_digit(s[16]) && !is_upper(s[16])) {
        return "CURP character 17 must be a digit or a letter";
    }
    if (!is_digit(s[17])) {
        return "CURP character 18 (check digit) must be a digit";
    }
    year = (is_digit(s[16]) ? 1900 : 2000) + (s[4] - '0') * 10 + s[5] - '0';
    month = (s[6] - '0') * 10 + s[7] - '0';
    day = (s[8] - '0') * 10 + s[9] - '0';
    if (month < 1 || month > 12) {
        return "CURP birth date has an invalid month";
    }
    if (day < 1 || day > days_in_month(year, month)) {
        return "CURP birth date has an invalid day for its month";
    }
    for (i = 0; i < 17; i++) {
        sum += curp_value(s[i]) * (18 - i);
    }
    if ((10 - sum % 10) % 10 != s[17] - '0') {
        return "CURP check digit does not match";
    }
    return NULL;
}

void
id_curp_birth_date(const char *curp, char out[11])
{
    out[0] = is_digit(curp[16]) ? '1' : '2';
    out[1] = is_digit(curp[16]) ? '9' : '0';
    out[2] = curp[4];
    out[3] = curp[5];
    out[4] = '-';
    out[5] = curp[6];
    out[6] = curp[7];
    out[7] = '-';
    out[8] = curp[8];
    out[9] = curp[9];
    out[10] = '\0';
}

const char *
id_nss_check(const char *s, size_t len)
{
    int     sum = 0, d, i;

    if (len != ID_NSS_LEN) {
        return "an NSS has exactly 11 digits";
    }
    for (i = 0; i < ID_NSS_LEN; i++) {
        if (!is_digit(s[i])) {
            return "an NSS has only digits";
        }
    }
    /* Luhn over the first ten digits, doubling from the rightmost. */
    for (i = 9; i >= 0; i--) {
        d = s[i] - '0';
        if ((9 - i) % 2 == 0) {
            d *= 2;
            if (d > 9) {
                d -= 9;
            }
        }
        sum += d;
    }
    if ((10 - sum % 10) % 10 != s[10] - '0') {
        return "NSS check digit (Luhn) does not match";
    }
    return NULL;
}

const char *
id_email_check(const char *s, size_t len)
{
    const char  *at = NULL;
    size_t       i, label = 0;
    int          dots = 0;

    if (len == 0 || len > ID_EMAIL_MAX) {
        return "an e-mail address has 3 to 254 characters";
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '@') {
            if (at) {
                return "an e-mail address has exactly one @";
            }
            at = s + i;
        }
    }
    if (at == NULL || at == s || at - s > 64 || at == s + len - 1) {
        return "an e-mail address is local-part@domain (local part at most "
               "64 characters)";
    }
    for (i = 0; s + i < at; i++) {
        if (!(is_upper(s[i]) || is_digit(s[i])
              || (s[i] >= 'a' && s[i] <= 'z')
              || strchr("!#$%&'*+/=?^_`{|}~.-", s[i])))
        {
            return "the e-mail local part holds a character not allowed "
                   "(letters, digits and !#$%&'*+/=?^_`{|}~.- only)";
        }
    }
    if (s[0] == '.' || at[-1] == '.' || memmem(s, (size_t) (at - s), "..", 2))
    {
        return "the e-mail local part cannot start, end or repeat a dot";
    }
    for (i = (size_t) (at - s) + 1; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-') {
                return "the e-mail domain has an empty or malformed label";
            }
            dots += i < len;
            label = 0;
            continue;
        }
        if (!(is_upper(s[i]) || is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] == '-' && label > 0)))
        {
            return "the e-mail domain holds a character not allowed "
                   "(letters, digits, - and dots)";
        }
        label++;
    }
    if (dots == 0) {
        return "the e-mail domain needs a dot (name.tld)";
    }
    return NULL;
}

const char *
id_rfc_check(const char *s, size_t len)
{
    size_t  letters, i;

    if (len != 12 && len != 13) {
        return "an RFC has 12 (company) or 13 (person) characters";
    }
    letters = len - 9;
    for (i = 0; i < letters; i++) {
        if (!is_upper(s[i]) && s[i] != '&') {
            return "an RFC starts with 3 (company) or 4 (person) letters";
        }
    }
    for (i = letters; i < letters + 6; i++) {
        if (!is_digit(s[i])) {
            return "an RFC holds its date as six digits after the letters";
        }
    }
    for (i = letters + 6; i < len; i++) {
        if (!is_upper(s[i]) && !is_digit(s[i])) {
            return "an RFC ends with a homoclave of three letters or digits";
        }
    }
    return NULL;
}
