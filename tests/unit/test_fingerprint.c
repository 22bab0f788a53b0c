/*
 * test_fingerprint.c -- the ISO 19794-2:2005 and ANSI 378-2004 parsers.
 *
 * Owns: checks that the real FVC templates parse, that the published
 * invalid files and every truncation or corruption are refused without a
 * crash, and that an ANSI 378 record written from an ISO one (by the
 * encoder below, from the standard's layout) parses to the same minutiae.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fingerprint.h"

#define FILE_MAX 65536

static const char *
shared_dir(void)
{
    const char  *dir = getenv("HUELLA_SHARED");

    return dir != NULL && dir[0] != '\0' ? dir : "../shared";
}

static size_t
read_shared(const char *rel, uint8_t *buf, size_t cap)
{
    char    path[1024];
    FILE   *f;
    size_t  n;

    snprintf(path, sizeof(path), "%s/%s", shared_dir(), rel);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (set HUELLA_SHARED)", path);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
put_be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

/* ANSI INCITS 378-2004 writer: 26-byte header (2-byte length, CBEFF
 * product id), one view, angles in 2-degree units. */
static size_t
ansi_encode(const struct hm_fingerprint *fp, uint8_t *out)
{
    size_t    len = 26 + 4 + 6 * (size_t) fp->count + 2, pos;
    unsigned  i;

    memcpy(out, "FMR\0 20\0", 8);
    put_be16(out + 8, (unsigned) len);
    put_be16(out + 10, 0x0033);        /* CBEFF owner */
    put_be16(out + 12, 0x0001);        /* CBEFF type */
    put_be16(out + 14, 0);             /* capture equipment */
    put_be16(out + 16, fp->width);
    put_be16(out + 18, fp->height);
    put_be16(out + 20, fp->res_x);
    put_be16(out + 22, fp->res_y);
    out[24] = 1;
    out[25] = 0;
    out[26] = fp->position;
    out[27] = fp->impression;
    out[28] = fp->finger_quality;
    out[29] = (uint8_t) fp->count;
    pos = 30;
    for (i = 0; i < fp->count; i++) {
        const struct hm_minutia  *m = &fp->m[i];

        put_be16(out + pos, (unsigned) m->type << 14 | m->x);
        put_be16(out + pos + 2, m->y);
        out[pos + 4] = (uint8_t) ((m->angle * 180 + 128) / 256 % 180);
        out[pos + 5] = m->quality;
        pos += 6;
    }
    put_be16(out + pos, 0);
    return len;
}

START_TEST(valid_iso_files_parse)
{
    static const char *sets[] = { "fvc2002/DB1_B", "fvc2002/DB2_B",
        "fvc2004/DB1_B", "fvc2004/DB2_B" };
    uint8_t                buf[FILE_MAX];
    struct hm_fingerprint  fp;
    char                   rel[256], err[256];
    size_t                 s, n;
    int                    finger, imp;

    for (s = 0; s < 4; s++) {
        for (finger = 101; finger <= 110; finger++) {
            for (imp = 1; imp <= 8; imp++) {
                snprintf(rel, sizeof(rel), "data/%s/%d_%d.iso", sets[s],
                    finger, imp);
                n = read_shared(rel, buf, sizeof(buf));
                ck_assert_msg(hm_parse_iso19794_2(buf, n, &fp, err,
                    sizeof(err)) == 0, "%s: %s", rel, err);
                ck_assert_uint_eq(fp.width, 300);
                ck_assert_uint_eq(fp.height, 400);
                ck_assert_uint_eq(fp.res_x, 197);
                ck_assert_uint_ge(fp.count, 1);
                ck_assert_uint_eq(n, 24 + 4 + 6 * (size_t) fp.count + 2);
            }
        }
    }
}
END_TEST

START_TEST(first_minutia_decoded)
{
    uint8_t                buf[FILE_MAX];
    struct hm_fingerprint  fp;
    char                   err[256];
    size_t                 n = read_shared("data/fvc2002/DB1_B/101_1.iso",
                               buf, sizeof(buf));

    ck_assert_int_eq(hm_parse(1, buf, n, &fp, err, sizeof(err)), 0);
    ck_assert_uint_eq(fp.count, 25);
    /* 80a5 0030 6b00: bifurcation at (165, 48), angle 0x6b. */
    ck_assert_uint_eq(fp.m[0].type, HM_MINUTIA_BIFURCATION);
    ck_assert_uint_eq(fp.m[0].x, 165);
    ck_assert_uint_eq(fp.m[0].y, 48);
    ck_assert_uint_eq(fp.m[0].angle, 0x6b);
    ck_assert_uint_eq(fp.m[1].type, HM_MINUTIA_ENDING);
}
END_TEST

START_TEST(invalid_files_refused_with_reason)
{
    static const struct {
        const char  *file;
        const char  *reason;
    } cases[] = {
        { "data/invalid/101_1_truncate_1_byte.iso",
          "record length 30 in header but buffer has 29 bytes" },
        { "data/invalid/101_1_truncate_2_bytes.iso",
          "record length 30 in header but buffer has 28 bytes" },
        { "data/invalid/101_1_truncate_3_bytes.iso",
          "record length 30 in header but buffer has 27 bytes" },
    };
    uint8_t                buf[FILE_MAX];
    struct hm_fingerprint  fp;
    char                   err[256];
    size_t                 i, n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = read_shared(cases[i].file, buf, sizeof(buf));
        err[0] = '\0';
        ck_assert_int_eq(hm_parse_iso19794_2(buf, n, &fp, err, sizeof(err)),
            -1);
        ck_assert_str_eq(err, cases[i].reason);
    }
}
END_TEST

static void
expect_refused(const uint8_t *buf, size_t n, const char *reason_part)
{
    struct hm_fingerprint  fp;
    char                   err[256] = "";

    ck_assert_int_eq(hm_parse_iso19794_2(buf, n, &fp, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, reason_part) != NULL, "reason '%s' lacks '%s'",
        err, reason_part);
}

START_TEST(out_of_range_fields_refused)
{
    uint8_t  orig[FILE_MAX], buf[FILE_MAX];
    size_t   n = read_shared("data/fvc2002/DB1_B/101_1.iso", orig,
                 sizeof(orig));

    memcpy(buf, orig, n);
    buf[0] = 'X';
    expect_refused(buf, n, "format identifier");
    memcpy(buf, orig, n);
    buf[5] = '3';
    expect_refused(buf, n, "version");
    memcpy(buf, orig, n);
    buf[24] = 11;
    expect_refused(buf, n, "finger position 11");
    memcpy(buf, orig, n);
    buf[25] = 0x05;
    expect_refused(buf, n, "impression type 5");
    memcpy(buf, orig, n);
    buf[26] = 101;
    expect_refused(buf, n, "finger quality 101");
    memcpy(buf, orig, n);
    buf[28] = 0x81;
    buf[29] = 0x2c;                    /* x = 300 = width */
    expect_refused(buf, n, "x 300 outside the image width 300");
    memcpy(buf, orig, n);
    buf[30] = 0x01;
    buf[31] = 0x90;                    /* y = 400 = height */
    expect_refused(buf, n, "y 400 outside the image height 400");
    memcpy(buf, orig, n);
    buf[28] |= 0xc0;
    expect_refused(buf, n, "reserved");
    memcpy(buf, orig, n);
    buf[33] = 101;
    expect_refused(buf, n, "quality 101");
    memcpy(buf, orig, n);
    buf[27] = 26;                      /* one minutia more than present */
    expect_refused(buf, n, "26 minutiae need 156 bytes");
    memcpy(buf, orig, n);
    buf[22] = 0;
    expect_refused(buf, n, "no finger view");
    memcpy(buf, orig, n);
    buf[14] = 0;
    buf[15] = 0;
    expect_refused(buf, n, "zero side");
    memcpy(buf, orig, n);
    buf[n - 1] = 4;                    /* extended data beyond the end */
    expect_refused(buf, n, "extended data block of 4 bytes");
    memcpy(buf, orig, n);
    buf[n] = 0;                        /* trailing byte */
    expect_refused(buf, n + 1, "record length 180 in header but buffer has "
        "181 bytes");
}
END_TEST

START_TEST(truncations_and_corruptions_never_crash)
{
    uint8_t                orig[FILE_MAX], buf[FILE_MAX];
    struct hm_fingerprint  fp;
    char                   err[256];
    size_t                 n = read_shared("data/fvc2004/DB2_B/105_3.iso",
                               orig, sizeof(orig)), cut, i;
    unsigned               seed = 12345, round;

    for (cut = 0; cut < n; cut++) {
        memcpy(buf, orig, cut);
        ck_assert_int_eq(hm_parse_iso19794_2(buf, cut, &fp, err,
            sizeof(err)), -1);
        ck_assert_int_eq(hm_parse_ansi378(buf, cut, &fp, err, sizeof(err)),
            -1);
    }
    for (round = 0; round < 20000; round++) {
        size_t  len = n;

        memcpy(buf, orig, n);
        for (i = 0; i < 1 + round % 4; i++) {
            seed = seed * 1103515245 + 12345;
            buf[(seed >> 8) % n] = (uint8_t) (seed >> 20);
        }
        if (round % 3 == 0) {
            len = (seed >> 4) % (n + 1);
        }
        /* Any outcome is fine but a crash; a success must be sane. */
        if (hm_parse_iso19794_2(buf, len, &fp, err, sizeof(err)) == 0) {
            for (i = 0; i < fp.count; i++) {
                ck_assert_uint_lt(fp.m[i].x, fp.width);
                ck_assert_uint_lt(fp.m[i].y, fp.height);
            }
        }
        (void) hm_parse_ansi378(buf, len, &fp, err, sizeof(err));
    }
}
END_TEST

START_TEST(ansi_round_trip)
{
    uint8_t                iso[FILE_MAX], ansi[FILE_MAX];
    struct hm_fingerprint  a, b;
    char                   err[256];
    size_t                 n, m;
    unsigned               i;
    int                    diff;

    n = read_shared("data/fvc2002/DB2_B/103_4.iso", iso, sizeof(iso));
    ck_assert_int_eq(hm_parse(1, iso, n, &a, err, sizeof(err)), 0);
    m = ansi_encode(&a, ansi);
    ck_assert_msg(hm_parse(2, ansi, m, &b, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(b.count, a.count);
    ck_assert_uint_eq(b.width, a.width);
    ck_assert_uint_eq(b.res_y, a.res_y);
    for (i = 0; i < a.count; i++) {
        ck_assert_uint_eq(b.m[i].x, a.m[i].x);
        ck_assert_uint_eq(b.m[i].y, a.m[i].y);
        ck_assert_uint_eq(b.m[i].type, a.m[i].type);
        /* 2-degree units lose at most one 360/256 unit each way. */
        diff = (int8_t) (uint8_t) (b.m[i].angle - a.m[i].angle);
        ck_assert_int_le(abs(diff), 1);
    }
    /* The ISO parser refuses the ANSI record and vice versa, and says
     * which format the record is (huellactl compare without --format,
     * an API call naming the wrong format). */
    ck_assert_int_eq(hm_parse(1, ansi, m, &b, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "this is an ANSI 378 record") != NULL, "%s",
        err);
    ck_assert_int_eq(hm_parse(2, iso, n, &b, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "this is an ISO 19794-2 record") != NULL, "%s",
        err);
    /* A truncated record is not taken for the other format. */
    ck_assert_int_eq(hm_parse(1, iso, n - 1, &b, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "this is") == NULL, "%s", err);
    /* ANSI angles stop at 179. */
    ansi[30 + 4] = 180;
    ck_assert_int_eq(hm_parse(2, ansi, m, &b, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "angle 180"));
    ck_assert_int_eq(hm_parse(3, ansi, m, &b, err, sizeof(err)), -1);
}
END_TEST

START_TEST(ansi_long_length_form)
{
    uint8_t                iso[FILE_MAX], ansi[FILE_MAX], longer[FILE_MAX];
    struct hm_fingerprint  a, b;
    char                   err[256];
    size_t                 n = read_shared("data/fvc2002/DB1_B/101_1.iso",
                               iso, sizeof(iso)), m;

    ck_assert_int_eq(hm_parse(1, iso, n, &a, err, sizeof(err)), 0);
    m = ansi_encode(&a, ansi);
    /* The long form is only legal above 65535 bytes: a short record
     * written long is refused. */
    memcpy(longer, ansi, 8);
    longer[8] = longer[9] = 0;
    longer[10] = longer[11] = 0;
    put_be16(longer + 12, (unsigned) m + 4);
    memcpy(longer + 14, ansi + 10, m - 10);
    ck_assert_int_eq(hm_parse(2, longer, m + 4, &b, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "would fit the short form"));
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("fingerprint");
    TCase    *tc = tcase_create("parsers");
    SRunner  *sr;
    int       failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_iso_files_parse);
    tcase_add_test(tc, first_minutia_decoded);
    tcase_add_test(tc, invalid_files_refused_with_reason);
    tcase_add_test(tc, out_of_range_fields_refused);
    tcase_add_test(tc, truncations_and_corruptions_never_crash);
    tcase_add_test(tc, ansi_round_trip);
    tcase_add_test(tc, ansi_long_length_form);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
