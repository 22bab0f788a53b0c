/*
 * test_enrollment.c -- ENROLL through a real huellad: a whole enrollment
 * with its receipt checked offline by the openssl CLI alone; the same
 * finger (FVC2002 DB1_B, impressions 1 and 2) under two CURPs caught as
 * duplicate_suspect without revealing the other identity; dedup cases
 * resolved both ways; per-finger quality refusals and the exception they
 * open; declared unreadable prints; the worker lookup; kill -9 during and
 * after enrollments leaving all or nothing; queued dedup jobs (ASYNC):
 * their status documents, the outcome of each, who may see them.
 */

#include <jansson.h>

#include "enroll_harness.h"
#include "receipt.h"

#define CURP_A "GARJ850312HDFRMN07"
#define CURP_B "LOHM900725MJCPRR00"
#define CURP_C "MASC781104HNLRNR00"
#define CURP_D "PEGA920218MPLRNN07"
#define CURP_E "ROFL830930HVZDLS04"
#define CURP_F "HECS880606MOCRRF03"

static char     device[64];
static EVP_PKEY *dev_key;

static size_t
load_template(const char *name, uint8_t *buf, size_t cap)
{
    char         path[256];
    const char  *shared = getenv("HUELLA_SHARED");
    FILE        *f;
    size_t       n;

    snprintf(path, sizeof(path), "%s/data/fvc2002/DB1_B/%s",
        shared ? shared : "../shared", name);
    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(path, sizeof(path), "/work/shared/data/fvc2002/DB1_B/%s",
            name);
        f = fopen(path, "rb");
    }
    ck_assert_msg(f != NULL, "cannot open %s", path);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void
enroll_setup(void)
{
    setup();
    dev_key = key_new("P-256");
    ck_assert_int_eq(register_device(dev_key, RFC_E, "enrollment", device,
        sizeof(device)), HIPC_ST_OK);
}

static void
enroll_teardown(void)
{
    EVP_PKEY_free(dev_key);
    teardown();
}

static void
enroll_begin(const char *curp)
{
    begin();
    s(HIPC_F_CURP, curp);
    s(HIPC_F_RFC, RFC_E);
    s(HIPC_F_DEVICE_ID, device);
    s(HIPC_F_ACTOR, "GODE561231GR8");
}

/* quality_override: 0 keeps the file's finger quality. */
static void
add_finger(unsigned position, const char *file, unsigned quality_override)
{
    uint8_t  t[8192];
    size_t   n = load_template(file, t, sizeof(t)), at;

    if (quality_override) {
        t[26] = (uint8_t) quality_override;   /* ISO view header quality */
    }
    at = hipc_open(&rw, HIPC_F_FINGER);
    hipc_put_u32(&rw, HIPC_F_POSITION, position);
    hipc_put_u32(&rw, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    hipc_put(&rw, HIPC_F_TEMPLATE, t, n);
    hipc_close(&rw, at);
}

static void
add_face(void)
{
    float   v[128];
    size_t  at;
    int     i;

    for (i = 0; i < 128; i++) {
        v[i] = (float) i / 128.0f - 0.5f;
    }
    at = hipc_open(&rw, HIPC_F_FACE);
    s(HIPC_F_FACE_MODEL, "face-api-128");
    hipc_put_u32(&rw, HIPC_F_FACE_DIM, 128);
    hipc_put(&rw, HIPC_F_FACE_DATA, v, sizeof(v));
    hipc_close(&rw, at);
}

static void
add_missing(unsigned position, const char *reason)
{
    size_t  at = hipc_open(&rw, HIPC_F_MISSING);

    hipc_put_u32(&rw, HIPC_F_POSITION, position);
    s(HIPC_F_REASON, reason);
    hipc_close(&rw, at);
}

static json_t *
rep_json(void)
{
    char     *text = malloc(HIPC_PAYLOAD_MAX);
    json_t   *j;

    rep_str(HIPC_F_JSON, text, HIPC_PAYLOAD_MAX);
    j = json_loads(text, 0, NULL);
    free(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

static json_t *
lookup(const char *curp)
{
    begin();
    s(HIPC_F_CURP, curp);
    ck_assert_int_eq(call(HIPC_OP_SUBJECT_LOOKUP), HIPC_ST_OK);
    return rep_json();
}

static int
has_flag(json_t *subject, const char *flag)
{
    json_t  *v;
    size_t   i;

    json_array_foreach(json_object_get(subject, "flags"), i, v) {
        if (strcmp(json_string_value(v), flag) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The receipt verified with nothing but the openssl CLI: the key file's
 * public half, r||s turned into DER, `openssl dgst -sha256 -verify`. */
static void
verify_with_openssl_cli(const char *jws)
{
    char        path[256], cmd[1024];
    const char *dot2 = strrchr(jws, '.');
    uint8_t     sig[64], der[80], *dp = der;
    ECDSA_SIG  *es = ECDSA_SIG_new();
    FILE       *f;
    int         n;

    ck_assert_ptr_nonnull(dot2);
    ck_assert_int_eq(b64url_decode(dot2 + 1, strlen(dot2 + 1), sig, 64), 64);
    ck_assert(ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
        BN_bin2bn(sig + 32, 32, NULL)));
    n = i2d_ECDSA_SIG(es, &dp);
    ECDSA_SIG_free(es);
    snprintf(path, sizeof(path), "%s/sig.der", dir);
    f = fopen(path, "wb");
    fwrite(der, 1, (size_t) n, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/input.txt", dir);
    f = fopen(path, "wb");
    fwrite(jws, 1, (size_t) (dot2 - jws), f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && openssl pkey -in %s -pubout -out "
        "pub.pem && openssl dgst -sha256 -verify pub.pem -signature sig.der "
        "input.txt >/dev/null", dir, key_path);
    ck_assert_msg(system(cmd) == 0, "openssl dgst did not verify");
    /* and a changed byte fails */
    f = fopen(path, "ab");
    fputc('x', f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cd %s && openssl dgst -sha256 -verify "
        "pub.pem -signature sig.der input.txt >/dev/null 2>&1", dir);
    ck_assert(system(cmd) != 0);
}

START_TEST(test_enroll_and_receipt)
{
    char      folio[64], jws[8192], kid[128], err[256];
    json_t   *subject, *payload, *jwks;
    EVP_PKEY *pub;

    enroll_begin(CURP_A);
    add_finger(2, "101_1.iso", 0);
    add_finger(7, "102_1.iso", 0);
    add_face();
    add_missing(10, "amputation");
    ck_assert_int_eq(call(HIPC_OP_ENROLL), HIPC_ST_OK);
    rep_str(HIPC_F_FOLIO, folio, sizeof(folio));
    rep_str(HIPC_F_RECEIPT, jws, sizeof(jws));
    verify_with_openssl_cli(jws);

    /* The JWKS op's key verifies it too, and the payload says it all. */
    begin();
    ck_assert_int_eq(call(HIPC_OP_JWKS), HIPC_ST_OK);
    jwks = rep_json();
    pub = receipt_key_from_jwk(json_array_get(json_object_get(jwks, "keys"),
        0), err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);
    ck_assert_msg(receipt_verify(jws, pub, &payload, kid, sizeof(kid), err,
        sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(kid, json_string_value(json_object_get(json_array_get(
        json_object_get(jwks, "keys"), 0), "kid")));
    ck_assert_str_eq(json_string_value(json_object_get(payload, "folio")),
        folio);
    ck_assert_str_eq(json_string_value(json_object_get(payload, "type")),
        "enrollment");
    ck_assert_str_eq(json_string_value(json_object_get(payload, "curp")),
        CURP_A);
    ck_assert_int_eq(json_array_size(json_object_get(payload,
        "template_sha256")), 2);
    json_decref(payload);
    jws[strlen(jws) - 3] ^= 1;
    ck_assert_int_ne(receipt_verify(jws, pub, &payload, NULL, 0, err,
        sizeof(err)), 0);
    EVP_PKEY_free(pub);
    json_decref(jwks);

    /* RECEIPT_GET by folio */
    begin();
    s(HIPC_F_FOLIO, folio);
    ck_assert_int_eq(call(HIPC_OP_RECEIPT_GET), HIPC_ST_OK);
    ck_assert(rep_eq(HIPC_F_RFC, RFC_E) && rep_eq(HIPC_F_CURP, CURP_A));
    begin();
    s(HIPC_F_FOLIO, "HUE-2020-000000999");
    call(HIPC_OP_RECEIPT_GET);
    expect(HIPC_ST_NOT_FOUND, "receipt_not_found");

    subject = lookup(CURP_A);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        subject, "biometrics"), "status")), "enrolled");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
        subject, "biometrics"), "fingers_enrolled")), 2);
    ck_assert(json_is_true(json_object_get(json_object_get(subject,
        "biometrics"), "face")));
    ck_assert_str_eq(json_string_value(json_object_get(subject,
        "employer_rfc")), RFC_E);
    ck_assert_str_eq(json_string_value(json_object_get(subject, "name")),
        "Juan García Ramírez");
    json_decref(subject);

    /* enrolled twice, VERIFY sees the stored template */
    enroll_begin(CURP_A);
    add_finger(3, "103_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_CONFLICT, "already_enrolled");
    begin();
    s(HIPC_F_CURP, CURP_A);
    hipc_put_u32(&rw, HIPC_F_FORMAT, HIPC_FMT_ISO19794_2_2005);
    {
        uint8_t  t[8192];
        size_t   n = load_template("101_3.iso", t, sizeof(t));

        hipc_put(&rw, HIPC_F_TEMPLATE, t, n);
    }
    ck_assert_int_eq(call(HIPC_OP_VERIFY), HIPC_ST_OK);
    {
        const uint8_t  *d;
        uint32_t        n, match = 0;

        ck_assert_int_eq(hipc_find(rep, rep_len, HIPC_F_MATCH, &d, &n), 1);
        hipc_get_u32(d, n, &match);
        ck_assert_uint_eq(match, 1);
    }

    subject = lookup(CURP_F);            /* in the registry, nothing else */
    ck_assert(has_flag(subject, "no_biometrics"));
    json_decref(subject);
}
END_TEST

START_TEST(test_device_rules)
{
    EVP_PKEY  *kiosk = key_new("P-256");
    char       kid[64];

    ck_assert_int_eq(register_device(kiosk, RFC_E, "kiosk", kid,
        sizeof(kid)), HIPC_ST_OK);
    begin();
    s(HIPC_F_CURP, CURP_B);
    s(HIPC_F_RFC, RFC_E);
    s(HIPC_F_DEVICE_ID, kid);
    s(HIPC_F_ACTOR, "x");
    add_finger(1, "104_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_UNAUTHORIZED, "device_purpose_mismatch");
    begin();
    s(HIPC_F_CURP, CURP_B);
    s(HIPC_F_RFC, RFC_O);
    s(HIPC_F_DEVICE_ID, device);
    s(HIPC_F_ACTOR, "x");
    add_finger(1, "104_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_FORBIDDEN, "device_employer_mismatch");
    enroll_begin(CURP_B);
    add_finger(1, "104_1.iso", 0);
    add_finger(1, "105_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_INVALID, "duplicate_position");
    ck_assert(rep_eq(HIPC_F_FIELD, "fingers[1].position"));
    enroll_begin(CURP_B);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_INVALID, "no_biometrics");
    enroll_begin(CURP_B);
    add_finger(11, "104_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_INVALID, "invalid_position");
    EVP_PKEY_free(kiosk);
}
END_TEST

/* Opens a case: 101_1 under CURP_A, then impression 2 under `curp`. */
static void
open_case(const char *curp, const char *file, char *case_id, size_t cap)
{
    enroll_begin(curp);
    add_finger(2, file, 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_CONFLICT, "duplicate_suspect");
    rep_str(HIPC_F_CASE_ID, case_id, cap);
    ck_assert_msg(!rep_has(CURP_A), "the reply reveals the other identity");
    ck_assert(!rep_has("Juan"));
}

START_TEST(test_dedup)
{
    char     case1[64], case2[64], other[64], folio[64];
    json_t  *cases, *subject;

    enroll_begin(CURP_A);
    add_finger(2, "101_1.iso", 0);
    ck_assert_int_eq(call(HIPC_OP_ENROLL), HIPC_ST_OK);

    open_case(CURP_B, "101_2.iso", case1, sizeof(case1));
    /* while the case is open, the same CURP cannot try again */
    enroll_begin(CURP_B);
    add_finger(5, "105_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_CONFLICT, "duplicate_suspect");
    subject = lookup(CURP_B);
    ck_assert(has_flag(subject, "dedup_pending"));
    json_decref(subject);

    /* the auditor sees both identities and the scores */
    begin();
    s(HIPC_F_STATE, "open");
    ck_assert_int_eq(call(HIPC_OP_DEDUP_LIST), HIPC_ST_OK);
    cases = rep_json();
    ck_assert_int_eq(json_array_size(cases), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(cases,
        0), "curp")), CURP_B);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
        json_object_get(json_array_get(cases, 0), "matches"), 0), "curp")),
        CURP_A);
    json_decref(cases);

    /* false alarm: the pending enrollment is stored, with its receipt */
    begin();
    s(HIPC_F_CASE_ID, case1);
    s(HIPC_F_STATE, "false_alarm");
    s(HIPC_F_ACTOR, "auditor-1");
    ck_assert_int_eq(call(HIPC_OP_DEDUP_RESOLVE), HIPC_ST_OK);
    rep_str(HIPC_F_FOLIO, folio, sizeof(folio));
    ck_assert(rep_eq(HIPC_F_STATE, "false_alarm"));
    subject = lookup(CURP_B);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        subject, "biometrics"), "status")), "enrolled");
    ck_assert(!has_flag(subject, "dedup_pending"));
    json_decref(subject);
    begin();
    s(HIPC_F_CASE_ID, case1);
    s(HIPC_F_STATE, "confirmed");
    s(HIPC_F_ACTOR, "auditor-1");
    call(HIPC_OP_DEDUP_RESOLVE);
    expect(HIPC_ST_CONFLICT, "case_closed");

    /* confirmed: both identities flagged */
    open_case(CURP_C, "101_3.iso", case2, sizeof(case2));
    begin();
    s(HIPC_F_CASE_ID, case2);
    s(HIPC_F_STATE, "confirmed");
    s(HIPC_F_ACTOR, "auditor-1");
    ck_assert_int_eq(call(HIPC_OP_DEDUP_RESOLVE), HIPC_ST_OK);
    ck_assert(rep_has("eyJ"));
    subject = lookup(CURP_C);
    ck_assert(has_flag(subject, "duplicate_confirmed"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
        subject, "biometrics"), "fingers_enrolled")), 0);
    json_decref(subject);
    snprintf(other, sizeof(other), "%s", CURP_A);
    subject = lookup(other);
    ck_assert(has_flag(subject, "duplicate_confirmed"));
    json_decref(subject);
    enroll_begin(CURP_C);
    add_finger(4, "106_1.iso", 0);
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_CONFLICT, "duplicate_confirmed");
    begin();
    s(HIPC_F_CASE_ID, "dd_0000000000000000");
    s(HIPC_F_STATE, "confirmed");
    s(HIPC_F_ACTOR, "auditor-1");
    call(HIPC_OP_DEDUP_RESOLVE);
    expect(HIPC_ST_NOT_FOUND, "case_not_found");
}
END_TEST

START_TEST(test_quality_and_exceptions)
{
    json_t  *list, *subject;
    int      i;

    for (i = 1; i <= 3; i++) {
        enroll_begin(CURP_D);
        add_finger(1, "103_1.iso", 0);
        add_finger(6, "104_1.iso", 10);          /* quality 10 < 20 */
        call(HIPC_OP_ENROLL);
        expect(HIPC_ST_INVALID, "low_quality");
        ck_assert(rep_eq(HIPC_F_FIELD, "fingers[1]"));
        ck_assert(rep_has("below"));
        ck_assert_int_eq(rep_has("exception_opened"), i == 3);
    }
    begin();
    ck_assert_int_eq(call(HIPC_OP_EXCEPTION_LIST), HIPC_ST_OK);
    list = rep_json();
    ck_assert_int_eq(json_array_size(list), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list,
        0), "reason")), "repeated_quality_failure");
    ck_assert(strstr(json_string_value(json_object_get(json_array_get(list,
        0), "message")), "subdelegación") != NULL);
    json_decref(list);
    subject = lookup(CURP_D);
    ck_assert(has_flag(subject, "exception"));
    json_decref(subject);

    /* declared unreadable prints: enrolled with a face, exception opened */
    enroll_begin(CURP_E);
    add_face();
    for (i = 1; i <= 10; i++) {
        add_missing((unsigned) i, "unreadable");
    }
    ck_assert_int_eq(call(HIPC_OP_ENROLL), HIPC_ST_OK);
    begin();
    s(HIPC_F_CURP, CURP_E);
    ck_assert_int_eq(call(HIPC_OP_EXCEPTION_LIST), HIPC_ST_OK);
    ck_assert(rep_has("unreadable_prints"));
    enroll_begin(CURP_F);
    add_finger(1, "107_1.iso", 0);
    add_missing(2, "lost");
    call(HIPC_OP_ENROLL);
    expect(HIPC_ST_INVALID, "invalid_missing_reason");
}
END_TEST

START_TEST(test_kill9)
{
    char     folio[64];
    json_t  *subject, *j;
    int      i, enrolled, fingers;
    uint8_t  dummy[64];
    size_t   dl;
    int      st;

    enroll_begin(CURP_A);
    add_finger(2, "101_1.iso", 0);
    ck_assert_int_eq(call(HIPC_OP_ENROLL), HIPC_ST_OK);
    rep_str(HIPC_F_FOLIO, folio, sizeof(folio));
    kill_server();
    start_server();
    subject = lookup(CURP_A);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
        subject, "biometrics"), "status")), "enrolled");
    json_decref(subject);
    begin();
    s(HIPC_F_FOLIO, folio);
    ck_assert_int_eq(call(HIPC_OP_RECEIPT_GET), HIPC_ST_OK);

    /* kill -9 while enrollments are in flight, at varying moments */
    for (i = 0; i < 4; i++) {
        const char *curp = i % 2 ? CURP_B : CURP_C;

        enroll_begin(curp);
        add_finger(3, i % 2 ? "104_1.iso" : "105_1.iso", 0);
        add_finger(4, i % 2 ? "106_1.iso" : "107_1.iso", 0);
        add_face();
        hipc_client_call(cl, HIPC_OP_ENROLL, req, rw.len, dummy,
            sizeof(dummy), &dl, &st, 1 + i * 3);
        usleep((useconds_t) (i * 2000));
        kill_server();
        start_server();
        subject = lookup(curp);
        j = json_object_get(subject, "biometrics");
        enrolled = strcmp(json_string_value(json_object_get(j, "status")),
            "enrolled") == 0;
        fingers = (int) json_integer_value(json_object_get(j,
            "fingers_enrolled"));
        /* all or nothing: status, both fingers, face and the receipt */
        ck_assert_msg(enrolled ? fingers == 2 && json_is_true(
            json_object_get(j, "face")) : fingers == 0 && !json_is_true(
            json_object_get(j, "face")), "half an enrollment survived");
        if (enrolled) {
            begin();
            s(HIPC_F_FOLIO, json_string_value(json_object_get(subject,
                "folio")));
            ck_assert_int_eq(call(HIPC_OP_RECEIPT_GET), HIPC_ST_OK);
        }
        json_decref(subject);
    }
}
END_TEST

/* The status document of a job, polled until it is done or failed. */
static json_t *
wait_job(const char *job_id, const char *rfc)
{
    json_t      *j = NULL;
    const char  *st;
    int          i;

    for (i = 0; i < 3000; i++) {
        begin();
        s(HIPC_F_JOB_ID, job_id);
        if (rfc) {
            s(HIPC_F_RFC, rfc);
        }
        ck_assert_int_eq(call(HIPC_OP_DEDUP_JOB_GET), HIPC_ST_OK);
        j = rep_json();
        st = json_string_value(json_object_get(j, "status"));
        if (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0) {
            return j;
        }
        json_decref(j);
        usleep(10000);
    }
    ck_abort_msg("job %s did not finish", job_id);
    return NULL;
}

START_TEST(test_dedup_jobs)
{
    char         job_a[64], job_b[64], state[32], *text;
    json_t      *j, *res, *list;
    const char  *folio;

    /* queued on request: OK at once with the job, not a folio */
    enroll_begin(CURP_A);
    add_finger(2, "102_1.iso", 0);
    hipc_put_u32(&rw, HIPC_F_ASYNC, 1);
    ck_assert_int_eq(call(HIPC_OP_ENROLL), HIPC_ST_OK);
    rep_str(HIPC_F_JOB_ID, job_a, sizeof(job_a));
    rep_str(HIPC_F_STATE, state, sizeof(state));
    ck_assert(strncmp(job_a, "dj_", 3) == 0);
    ck_assert_str_eq(state, "queued");
    ck_assert(!rep_has("eyJ"));                /* no receipt yet */
    j = wait_job(job_a, RFC_E);
    ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")),
        "enrolled");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "http_status")),
        201);
    res = json_object_get(j, "result");
    folio = json_string_value(json_object_get(res, "folio"));
    ck_assert_ptr_nonnull(folio);
    verify_with_openssl_cli(json_string_value(json_object_get(res,
        "receipt")));
    begin();
    s(HIPC_F_FOLIO, folio);
    ck_assert_int_eq(call(HIPC_OP_RECEIPT_GET), HIPC_ST_OK);
    json_decref(j);

    /* the same finger under another CURP: the job opens a case */
    enroll_begin(CURP_B);
    add_finger(2, "102_2.iso", 0);
    hipc_put_u32(&rw, HIPC_F_ASYNC, 1);
    ck_assert_int_eq(call(HIPC_OP_ENROLL), HIPC_ST_OK);
    rep_str(HIPC_F_JOB_ID, job_b, sizeof(job_b));
    j = wait_job(job_b, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")),
        "duplicate_suspect");
    res = json_object_get(json_object_get(j, "result"), "error");
    ck_assert_str_eq(json_string_value(json_object_get(res, "code")),
        "duplicate_suspect");
    ck_assert(strncmp(json_string_value(json_object_get(res, "case_id")),
        "dd_", 3) == 0);
    text = json_dumps(j, 0);
    ck_assert_ptr_null(strstr(text, CURP_A));  /* never the other one */
    free(text);
    json_decref(j);

    /* another employer's job is not found; a bad id is refused */
    begin();
    s(HIPC_F_JOB_ID, job_b);
    s(HIPC_F_RFC, RFC_O);
    call(HIPC_OP_DEDUP_JOB_GET);
    expect(HIPC_ST_NOT_FOUND, "job_not_found");
    begin();
    s(HIPC_F_JOB_ID, "dj/../x");
    call(HIPC_OP_DEDUP_JOB_GET);
    expect(HIPC_ST_INVALID, "invalid_value");

    /* the list: newest first, filtered by employer and state */
    begin();
    s(HIPC_F_RFC, RFC_E);
    ck_assert_int_eq(call(HIPC_OP_DEDUP_JOB_LIST), HIPC_ST_OK);
    list = rep_json();
    ck_assert_int_eq(json_array_size(list), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(list,
        0), "job_id")), job_b);
    json_decref(list);
    begin();
    s(HIPC_F_RFC, RFC_O);
    ck_assert_int_eq(call(HIPC_OP_DEDUP_JOB_LIST), HIPC_ST_OK);
    list = rep_json();
    ck_assert_int_eq(json_array_size(list), 0);
    json_decref(list);

    /* the writer-only op is refused from a client */
    begin();
    s(HIPC_F_JOB_ID, job_a);
    call(HIPC_OP_DEDUP_JOB_FINISH);
    expect(HIPC_ST_BAD_REQUEST, "unknown_op");

    /* jobs survive a restart as they are */
    kill_server();
    start_server();
    j = wait_job(job_a, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "outcome")),
        "enrolled");
    json_decref(j);
}
END_TEST

static Suite *
suite(void)
{
    Suite  *su = suite_create("enrollment");
    TCase  *tc = tcase_create("enrollment");

    tcase_add_checked_fixture(tc, enroll_setup, enroll_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_enroll_and_receipt);
    tcase_add_test(tc, test_device_rules);
    tcase_add_test(tc, test_dedup);
    tcase_add_test(tc, test_quality_and_exceptions);
    tcase_add_test(tc, test_kill9);
    tcase_add_test(tc, test_dedup_jobs);
    suite_add_tcase(su, tc);
    return su;
}

int
main(void)
{
    SRunner  *sr = srunner_create(suite());
    int       failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
