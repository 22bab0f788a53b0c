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
    ck_assert_uint_eq(cfg.identity.credential_events_keep, 65536);
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
    expect_error("identity:\n  credential_events_keep: 0\n", 2,
        "key 'identity.credential_events_keep': 0 is out of range "
        "(1..16777216)");
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

/* An attendance section that must be refused: expect_error, then the
 * lists parsed before the error are freed (ASan counts leaks). */
static void
expect_attendance_error(const char *text, int line, const char *want)
{
    struct hd_config  cfg;
    char              prefix[128];

    ck_assert_int_eq(load_text(text, &cfg), -1);
    att_rules_free(&cfg.attendance);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
        "error '%s' does not start with '%s'", err, prefix);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err,
        want);
}

/* Reasons and shifts carry label (es-MX) and an optional label_en
 * (English), both one line of 1 to 127 bytes. */
START_TEST(test_attendance_labels)
{
    struct hd_config          cfg;
    const struct att_reason  *rs;
    const struct att_shift   *sh;
    char                      text[1024], label[200];

    ck_assert_msg(load_text(
        "attendance:\n"
        "  reasons:\n"
        "    - { code: cita_medica, label: \"Cita médica (IMSS)\",\n"
        "        label_en: \"Medical appointment (IMSS)\" }\n"
        "    - { code: otro, label: \"Otro (explicar)\" }\n"
        "  shifts:\n"
        "    - { name: matutino, label: \"Matutino 08:00-16:00\",\n"
        "        label_en: \"Morning 08:00-16:00\", start: \"08:00\",\n"
        "        end: \"16:00\", days: [mon] }\n"
        "    - { name: vespertino, start: \"14:00\", end: \"22:00\",\n"
        "        days: [mon] }\n", &cfg) == 0, "%s", err);
    ck_assert_uint_eq(cfg.attendance.nreasons, 2);
    rs = att_reason_find(&cfg.attendance, "cita_medica");
    ck_assert_str_eq(rs->label, "Cita médica (IMSS)");
    ck_assert_str_eq(rs->label_en, "Medical appointment (IMSS)");
    ck_assert_str_eq(att_reason_label_en(rs), "Medical appointment (IMSS)");
    /* absent: nothing stored, English shows the Spanish label */
    rs = att_reason_find(&cfg.attendance, "otro");
    ck_assert_str_eq(rs->label_en, "");
    ck_assert_str_eq(att_reason_label_en(rs), "Otro (explicar)");
    sh = &cfg.attendance.shifts[att_shift_find(&cfg.attendance,
        "matutino")];
    ck_assert_str_eq(sh->label_en, "Morning 08:00-16:00");
    ck_assert_str_eq(att_shift_label_en(sh), "Morning 08:00-16:00");
    /* no label at all: the name, in both languages */
    sh = &cfg.attendance.shifts[att_shift_find(&cfg.attendance,
        "vespertino")];
    ck_assert_str_eq(sh->label, "vespertino");
    ck_assert_str_eq(att_shift_label_en(sh), "vespertino");
    att_rules_free(&cfg.attendance);

    /* 127 bytes fit, 128 do not */
    memset(label, 'x', 127);
    label[127] = '\0';
    snprintf(text, sizeof(text), "attendance:\n  reasons:\n"
        "    - { code: otro, label: Otro, label_en: \"%s\" }\n", label);
    ck_assert_msg(load_text(text, &cfg) == 0, "%s", err);
    ck_assert_uint_eq(strlen(cfg.attendance.reasons[0].label_en), 127);
    att_rules_free(&cfg.attendance);
    memset(label, 'x', 128);
    label[128] = '\0';
    snprintf(text, sizeof(text), "attendance:\n  reasons:\n"
        "    - { code: otro, label: Otro, label_en: \"%s\" }\n", label);
    expect_attendance_error(text, 3, "key 'attendance.reasons[0].label_en': "
        "a label is at most 127 bytes, got 128");
    snprintf(text, sizeof(text), "attendance:\n  shifts:\n"
        "    - { name: m, start: \"08:00\", end: \"16:00\", days: [mon],\n"
        "        label_en: \"%s\" }\n", label);
    expect_attendance_error(text, 4, "key 'attendance.shifts[0].label_en': "
        "a label is at most 127 bytes, got 128");
    /* a YAML escape gets a control character past the YAML reader */
    expect_attendance_error("attendance:\n  shifts:\n"
        "    - { name: m, label_en: \"Morning\\n08:00\", start: \"08:00\",\n"
        "        end: \"16:00\", days: [mon] }\n", 3,
        "key 'attendance.shifts[0].label_en': a label is one line of text "
        "without control characters (byte 0x0a at offset 7)");
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label: \"Otro\", label_en: \"Other\\t(x)\" }\n",
        3, "key 'attendance.reasons[0].label_en': a label is one line of "
        "text without control characters (byte 0x09 at offset 5)");
    /* label_en is held to what label is */
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label: \"Otro\\u0007\" }\n", 3,
        "key 'attendance.reasons[0].label': a label is one line of text "
        "without control characters (byte 0x07 at offset 4)");
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label: Otro, label_en: \"\" }\n", 3,
        "key 'attendance.reasons[0].label_en': a label cannot be empty");
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label: Otro,\n"
        "        label_en: }\n", 4,
        "key 'attendance.reasons[0].label_en': a label cannot be empty");
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label: Otro, label_en: [Other] }\n", 3,
        "key 'attendance.reasons[0].label_en': expected a label (text), "
        "got a list");
    /* a reason still needs its label; unknown keys are still refused */
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label_en: Other }\n", 3,
        "key 'attendance.reasons[0]': code and label are required");
    expect_attendance_error("attendance:\n  reasons:\n"
        "    - { code: otro, label: Otro,\n"
        "        label_fr: Autre }\n", 4,
        "key 'attendance.reasons[0].label_fr': unknown key (known: code, "
        "label, label_en)");
    expect_attendance_error("attendance:\n  shifts:\n"
        "    - { name: m, start: \"08:00\", end: \"16:00\", days: [mon],\n"
        "        labelen: Morning }\n", 4,
        "key 'attendance.shifts[0].labelen': unknown key (known: name, "
        "label, label_en, start, end, days)");
}
END_TEST

/* Every demo reason and shift has an English label of its own. */
START_TEST(test_demo_labels_in_english)
{
    struct hd_config  cfg;
    size_t            i;

    config_defaults(&cfg);
    ck_assert_msg(config_load("config/huella.yaml", &cfg, err,
        sizeof(err)) == 0, "%s", err);
    ck_assert_uint_gt(cfg.attendance.nreasons, 0);
    ck_assert_uint_gt(cfg.attendance.nshifts, 0);
    for (i = 0; i < cfg.attendance.nreasons; i++) {
        ck_assert_msg(cfg.attendance.reasons[i].label_en[0] != '\0'
            && strcmp(cfg.attendance.reasons[i].label_en,
                      cfg.attendance.reasons[i].label) != 0,
            "reason %s has no English label", cfg.attendance.reasons[i].code);
    }
    for (i = 0; i < cfg.attendance.nshifts; i++) {
        ck_assert_msg(cfg.attendance.shifts[i].label_en[0] != '\0'
            && strcmp(cfg.attendance.shifts[i].label_en,
                      cfg.attendance.shifts[i].label) != 0,
            "shift %s has no English label", cfg.attendance.shifts[i].name);
    }
    ck_assert_str_eq(att_reason_find(&cfg.attendance,
        "cita_medica")->label_en, "Medical appointment (IMSS)");
    att_rules_free(&cfg.attendance);
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
    tcase_add_test(tc, test_attendance_labels);
    tcase_add_test(tc, test_demo_labels_in_english);
    tcase_add_test(tc, test_missing_file);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
