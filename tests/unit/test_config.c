/*
 * test_config.c -- huellad's configuration loader: the documented file
 * loads, and every kind of mistake is refused naming file, line and key.
 */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char  path[64];
static char  err[1024];

static int
load_text(const char *text, struct hd_config *cfg)
{
    FILE  *f;
    int    fd;

    snprintf(path, sizeof(path), "/tmp/huella-cfg-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    config_defaults(cfg);
    err[0] = '\0';
    fd = config_load(path, cfg, err, sizeof(err));
    unlink(path);
    return fd;
}

/* The error must start with "PATH:LINE: " and contain want. */
static void
expect_error(const char *text, int line, const char *want)
{
    struct hd_config  cfg;
    char              prefix[128];

    ck_assert_int_eq(load_text(text, &cfg), -1);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
        "error '%s' does not start with '%s'", err, prefix);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err,
        want);
}

START_TEST(test_repo_config_loads)
{
    struct hd_config  cfg;

    config_defaults(&cfg);
    ck_assert_msg(config_load("config/huella.yaml", &cfg, err,
        sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(cfg.socket_path, "var/huellad.sock");
    ck_assert_str_eq(cfg.data_dir, "var/data");
    ck_assert_uint_eq(cfg.socket_mode, 0666);
    ck_assert_uint_eq(cfg.max_clients, 64);
    ck_assert(cfg.fmr > 0.9e-4 && cfg.fmr < 1.1e-4);
    att_rules_free(&cfg.attendance);
}
END_TEST

START_TEST(test_full_matcher_section)
{
    struct hd_config  cfg;

    ck_assert_msg(load_text(
        "# comment\n"
        "matcher:\n"
        "  socket: /tmp/x.sock\n"
        "  socket_mode: \"0660\"\n"
        "  data_dir: '/tmp/data dir'\n"
        "  map_size_mb: 64\n"
        "  threads: 3\n"
        "  fmr: 1e-3\n"
        "  spin_us: 0\n"
        "  max_clients: 8\n"
        "portal:\n"
        "  anything: [1, 2]\n"
        "log:\n"
        "  level: info\n", &cfg) == 0, "%s", err);
    ck_assert_str_eq(cfg.socket_path, "/tmp/x.sock");
    ck_assert_uint_eq(cfg.socket_mode, 0660);
    ck_assert_str_eq(cfg.data_dir, "/tmp/data dir");
    ck_assert_uint_eq(cfg.map_size_mb, 64);
    ck_assert_uint_eq(cfg.threads, 3);
    ck_assert_uint_eq(config_threads(&cfg), 3);
    ck_assert_uint_eq(cfg.spin_us, 0);
    ck_assert_uint_eq(cfg.max_clients, 8);
    ck_assert(cfg.fmr > 0.9e-3 && cfg.fmr < 1.1e-3);
}
END_TEST

START_TEST(test_empty_sections_keep_defaults)
{
    struct hd_config  cfg;

    ck_assert_msg(load_text("matcher:\nportal:\n", &cfg) == 0, "%s", err);
    ck_assert_uint_eq(cfg.spin_us, 50);
    ck_assert_uint_ge(config_threads(&cfg), 1);
}
END_TEST

START_TEST(test_unknown_key)
{
    expect_error("matcher:\n  threads: 2\n  thredas: 4\n", 3,
        "key 'matcher.thredas': unknown key");
}
END_TEST

START_TEST(test_wrong_types)
{
    expect_error("matcher:\n  threads: many\n", 2,
        "key 'matcher.threads': expected a non-negative integer");
    expect_error("matcher:\n\n  threads: -1\n", 3,
        "key 'matcher.threads': expected a non-negative integer");
    expect_error("matcher:\n  threads: \"4\"\n", 2,
        "key 'matcher.threads': expected a non-negative integer, got a "
        "quoted string");
    expect_error("matcher:\n  threads: 2.5\n", 2,
        "key 'matcher.threads': expected a non-negative integer");
    expect_error("matcher:\n  threads:\n", 2,
        "key 'matcher.threads': expected a non-negative integer, got "
        "nothing");
    expect_error("matcher:\n  max_clients: [1]\n", 2,
        "key 'matcher.max_clients': expected a non-negative integer, got a "
        "list");
    expect_error("matcher:\n  fmr: often\n", 2,
        "key 'matcher.fmr': expected a number");
    expect_error("matcher:\n  socket: {a: 1}\n", 2,
        "key 'matcher.socket': expected a path, got a mapping");
    expect_error("matcher:\n  socket_mode: rw\n", 2,
        "key 'matcher.socket_mode': expected an octal mode");
    expect_error("matcher: 12\n", 1, "key 'matcher': expected a mapping");
}
END_TEST

START_TEST(test_out_of_range)
{
    expect_error("matcher:\n  spin_us: 5000\n", 2,
        "key 'matcher.spin_us': 5000 is out of range (0..1000)");
    /* too big for 64 bits: out of range too, not "not an integer" */
    expect_error("matcher:\n  threads: 100000000000000000000000\n", 2,
        "key 'matcher.threads': 100000000000000000000000 is out of range "
        "(0..256)");
    expect_error("matcher:\n  max_clients: 0\n", 2,
        "key 'matcher.max_clients': 0 is out of range");
    expect_error("matcher:\n  map_size_mb: 1\n", 2,
        "key 'matcher.map_size_mb': must be at least 16");
    expect_error("matcher:\n  fmr: 0\n", 2,
        "key 'matcher.fmr': 0 is out of range");
    expect_error("matcher:\n  fmr: 0.5\n", 2,
        "key 'matcher.fmr': 0.5 is out of range");
    expect_error("matcher:\n  socket_mode: \"1777\"\n", 2,
        "key 'matcher.socket_mode': '1777' is out of range");
    expect_error("matcher:\n  socket_mode: \"0066\"\n", 2,
        "key 'matcher.socket_mode': '0066' must let huellad's own user");
}
END_TEST

/* matricula_pattern is compiled by regcomp(), whose memory grows with the
 * copies repetitions make: bounded before it runs (fuzz_config found a
 * 150-character pattern taking over 2 GB). */
START_TEST(test_costly_patterns_refused)
{
    struct hd_config  cfg;
    char              text[512];
    static const char *fine[] = {
        "^[A-Z0-9]{4,20}$", "^(MAT|EMP)-[0-9]{6}$", "^[[:alnum:]]{1,64}$",
        "^(a|b)+c*d?$", "a)b", "^[]a-z]{3}$"
    };
    size_t  k;

    expect_error("identity:\n  matricula_pattern: \"t:++[A-Z]$\"\n", 2,
        "key 'identity.matricula_pattern': adjacent repetition operators");
    expect_error("identity:\n  matricula_pattern: \"^a*{2}$\"\n", 2,
        "adjacent repetition operators");
    expect_error("identity:\n  matricula_pattern: "
        "\"((a{200}){200})\"\n", 2, "more than 4096 copies");
    expect_error("identity:\n  matricula_pattern: "
        "\"a)((a{255}){255}){255}\"\n", 2, "more than 4096 copies");
    expect_error("identity:\n  matricula_pattern: "
        "\"((((((((((((((((((a))))))))))))))))))\"\n", 2,
        "parentheses nested too deep");
    for (k = 0; k < sizeof(fine) / sizeof(fine[0]); k++) {
        snprintf(text, sizeof(text), "identity:\n  matricula_pattern: "
            "\"%s\"\n", fine[k]);
        ck_assert_msg(load_text(text, &cfg) == 0, "%s: %s", fine[k], err);
    }
}
END_TEST

START_TEST(test_structure_errors)
{
    expect_error("matcher:\n  threads: 1\nnginx:\n  x: 1\n", 3,
        "key 'nginx': unknown section");
    expect_error("matcher:\n  threads: 1\n  threads: 2\n", 3,
        "key 'matcher.threads': given twice");
    expect_error("matcher:\n  threads: 1\nmatcher:\n  spin_us: 2\n", 3,
        "key 'matcher': given twice");
    expect_error("- a\n- b\n", 1, "expected a mapping of sections");
    expect_error("matcher:\n  threads: [1\n", 3, "YAML syntax error");
    expect_error("", 1, "the file is empty");
    /* a reader error: the line of the byte, not line 1, and the byte */
    expect_error("matcher:\n  threads: 1\n  socket: \"a\001b\"\n", 3,
        "control characters are not allowed (byte 0x01 at offset 34)");
    expect_error("matcher:\n\n  socket: \"\xff\"\n", 3,
        "invalid leading UTF-8 octet (byte 0xff at offset 21)");
}
END_TEST

START_TEST(test_missing_file)
{
    struct hd_config  cfg;

    config_defaults(&cfg);
    ck_assert_int_eq(config_load("/nonexistent/huella.yaml", &cfg, err,
        sizeof(err)), -1);
    ck_assert(strstr(err, "/nonexistent/huella.yaml: No such file") != NULL);
}
END_TEST

int
main(void)
{
    Suite    *s = suite_create("config");
    TCase    *tc = tcase_create("config");
    SRunner  *sr;
    int       failed;

    tcase_add_test(tc, test_repo_config_loads);
    tcase_add_test(tc, test_full_matcher_section);
    tcase_add_test(tc, test_empty_sections_keep_defaults);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_costly_patterns_refused);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_missing_file);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
