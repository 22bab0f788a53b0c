/*
 * accounts.c -- accounts and memorized secrets: ACCOUNT_CREATE,
 * LOGIN_PASSWORD, PASSWORD_CHANGE, RECOVERY_START/FINISH, ACCOUNT_GET,
 * ROLES_SET and ACCOUNT_UNLOCK (issue 4).
 *
 * Each op is decoded on the ring thread; Argon2 runs on the worker pool
 * (id_hash_begin caps how many at once); the writer re-reads what it
 * decides on (throttle counters, recovery tokens), so two racing requests
 * cannot both pass a limit, and writes the change with its audit entry.
 *
 * Throttling (NIST SP 800-63B rev 4 3.2.2): consecutive failures are
 * counted per user as typed ("a:" CURP, or "a:?" the unknown user, so an
 * unknown user behaves exactly like a known one) and per client address
 * ("c:" address).  From lockout.threshold failures on, each further try
 * waits base_delay_s doubling up to max_delay_s (LOCKED with RETRY_AFTER;
 * tries while locked are refused without checking the password); at
 * disable_after the account is disabled until ACCOUNT_UNLOCK or a
 * completed recovery.  A success clears both counters.
 */

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential_events.h"
#include "identifiers.h"
#include "identity.h"
#include "ipc_server.h"
#include "mail.h"
#include "registry.h"
#include "search.h"

#define T(x) HIPC_F_##x

static const char *const generic_questions[] = {
    "¿Cuál es el nombre de tu primera mascota?",
    "¿En qué ciudad nació tu madre?",
    "¿Cómo se llamaba tu primera escuela?",
    "¿Cuál es el segundo nombre de tu padre o madre?"
};

/* ---- throttling ----------------------------------------------------------- */

static uint64_t
lock_delay(unsigned failures, unsigned threshold)
{
    const struct hd_identity_config  *c = id_rt()->cfg;
    unsigned                          shift = failures - threshold;
    uint64_t                          d;

    if (failures < threshold) {
        return 0;
    }
    d = shift >= 32 ? c->lockout_max_delay_s
        : (uint64_t) c->lockout_base_delay_s << shift;
    return d > c->lockout_max_delay_s ? c->lockout_max_delay_s : d;
}

static void
throttle_key(char *out, size_t cap, const struct id_job *job)
{
    if (job->account.curp[0]) {
        snprintf(out, cap, "a:%s", job->account.curp);
    } else {
        snprintf(out, cap, "a:?%s", job->f.user);
    }
}

static void
client_key(char *out, size_t cap, const struct id_job *job)
{
    snprintf(out, cap, "c:%s", job->f.client);
}

/* ---- pool helpers --------------------------------------------------------- */

static int
policy_ok(struct id_job *job, const char *pw, const char *field,
    const struct ids_account *a)
{
    struct password_policy    pol;
    struct password_identity  who;
    enum password_policy_result r;
    char                      msg[256];

    memset(&pol, 0, sizeof(pol));
    pol.min_chars = id_rt()->cfg->password_min_chars;
    pol.blocklist = id_rt()->blocklist;
    memset(&who, 0, sizeof(who));
    who.curp = a->curp[0] ? a->curp : NULL;
    who.nss = a->nss[0] ? a->nss : NULL;
    who.email = a->email[0] ? a->email : NULL;
    who.name = a->name[0] ? a->name : NULL;
    who.matricula = a->matricula[0] ? a->matricula : NULL;
    who.rfc = a->account_rfc[0] ? a->account_rfc : NULL;
    r = password_policy_check(&pol, pw, strlen(pw), &who, msg, sizeof(msg));
    if (r != PASSWORD_POLICY_OK) {
        ops_fail(&job->err, HIPC_ST_INVALID, password_policy_code(r), field,
            "%s", msg);
        return 0;
    }
    return 1;
}

static int
hash_password(struct id_job *job, const char *pw, char out[PASSWORD_HASH_MAX])
{
    enum password_result  r;

    id_hash_begin();
    r = password_hash(pw, strlen(pw), &id_rt()->params, out);
    id_hash_end();
    if (r != PASSWORD_OK) {
        ops_fail(&job->err, HIPC_ST_INTERNAL, "hash_failed", NULL,
            "the password could not be hashed");
        return 0;
    }
    return 1;
}

/* Replies the job's error from a pool thread and frees the request. */
static void
pool_fail(struct hd_request *rq)
{
    struct id_job  *job = rq->prep;

    ops_reply_err(rq, &job->err);
    hd_request_free(rq);
}

static int
pool_expired(struct hd_request *rq)
{
    if (hd_expired(rq)) {
        ops_reply_error(rq, HIPC_ST_EXPIRED, "deadline_exceeded", NULL,
            "the deadline passed before the work started");
        hd_request_free(rq);
        return 1;
    }
    return 0;
}

/* Reads the account (by USER or CURP) in a short read transaction. */
static int
load_account(struct id_job *job, const char *user, int by_curp)
{
    MDB_txn  *txn;
    int       rc;

    rc = store_read_begin(ops_store(), &txn);
    if (rc != 0) {
        return rc;
    }
    rc = by_curp ? ids_account_get(ops_store(), txn, user, &job->account)
                 : ids_account_resolve(ops_store(), txn, user, &job->account);
    mdb_txn_abort(txn);
    if (rc != 0) {
        memset(&job->account, 0, sizeof(job->account));
    }
    return rc;
}

/* ---- ACCOUNT_CREATE ------------------------------------------------------- */

static void
create_run(void *arg, struct hd_thread *th)
{
    struct hd_request   *rq = arg;
    struct id_job       *job = rq->prep;
    struct ids_account  *a = &job->account;
    enum password_result r;

    (void) th;
    if (pool_expired(rq)) {
        return;
    }
    if (!policy_ok(job, job->f.password, "password", a)
        || !hash_password(job, job->f.password, a->password_hash))
    {
        pool_fail(rq);
        return;
    }
    id_hash_begin();
    r = password_answer_hash(job->f.answer, strlen(job->f.answer),
        &id_rt()->params, a->answer_hash);
    id_hash_end();
    if (r != PASSWORD_OK) {
        ops_fail(&job->err, r == PASSWORD_INPUT_INVALID ? HIPC_ST_INVALID
            : HIPC_ST_INTERNAL, "invalid_answer", "security_answer",
            "the security answer needs at least 2 letters or digits");
        pool_fail(rq);
        return;
    }
    id_to_writer(rq);
}

static void
create_prepare(struct hd_request *rq)
{
    static const uint16_t  allowed[] = { T(CURP), T(NSS), T(EMAIL),
        T(PASSWORD), T(QUESTION), T(ANSWER), T(NAME), T(MATRICULA),
        T(CLIENT), 0 };
    static const uint16_t  required[] = { T(CURP), T(NSS), T(EMAIL),
        T(PASSWORD), T(QUESTION), T(ANSWER), 0 };
    struct id_job          *job = id_job_new(rq, allowed, required);
    struct registry_person  person;
    struct ids_account     *a;
    char                    why[256];

    if (job == NULL) {
        return;
    }
    switch (registry_check(id_rt()->registry, job->f.curp, job->f.name,
                &person, why, sizeof(why)))
    {
    case REGISTRY_ABSENT:
        ops_reply_error(rq, HIPC_ST_INVALID, "curp_not_in_registry", "curp",
            "%s", why);
        free(job);
        return;
    case REGISTRY_MISMATCH:
        ops_reply_error(rq, HIPC_ST_INVALID, "registry_mismatch", "curp",
            "%s", why);
        free(job);
        return;
    default:
        break;
    }
    a = &job->account;
    snprintf(a->curp, sizeof(a->curp), "%s", job->f.curp);
    snprintf(a->nss, sizeof(a->nss), "%s", job->f.nss);
    snprintf(a->email, sizeof(a->email), "%s", job->f.email);
    snprintf(a->name, sizeof(a->name), "%s", person.name);
    snprintf(a->matricula, sizeof(a->matricula), "%s", job->f.matricula);
    snprintf(a->question, sizeof(a->question), "%s", job->f.question);
    snprintf(a->roles, sizeof(a->roles), "worker");
    a->created = id_now();
    id_dispatch(rq, job, create_run);
}

static int
create_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    const char     *which;
    int             rc;

    rc = ids_account_insert(ops_store(), txn, &job->account, &which);
    if (rc == MDB_KEYEXIST) {
        ops_error(w, "account_exists", strcmp(which, "curp") == 0 ? "curp"
            : which, "an account with this %s already exists",
            strcmp(which, "curp") == 0 ? "CURP" : which);
        return HIPC_ST_CONFLICT;
    }
    if (rc == 0) {
        rc = id_audit(txn, job->account.curp, "account_created",
            job->account.curp, job->f.client, "roles", job->account.roles,
            (const char *) NULL);
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    id_put_identity(w, &job->account, "password");
    return HIPC_ST_OK;
}

/* ---- LOGIN_PASSWORD ------------------------------------------------------- */

static int
throttled(const struct ids_throttle *t, uint64_t now, unsigned disable)
{
    return t->failures >= disable || t->locked_until > now;
}

static void
login_run(void *arg, struct hd_thread *th)
{
    struct hd_request    *rq = arg;
    struct id_job        *job = rq->prep;
    const struct hd_identity_config *c = id_rt()->cfg;
    struct ids_throttle   ta, tc;
    char                  key[400];
    MDB_txn              *txn;
    uint64_t              now = id_now();
    int                   rc, found;
    enum password_result  r;

    (void) th;
    if (pool_expired(rq)) {
        return;
    }
    found = load_account(job, job->f.user, 0) == 0;
    memset(&ta, 0, sizeof(ta));
    memset(&tc, 0, sizeof(tc));
    if (store_read_begin(ops_store(), &txn) == 0) {
        throttle_key(key, sizeof(key), job);
        rc = ids_throttle_get(ops_store(), txn, key, &ta);
        client_key(key, sizeof(key), job);
        if (rc == 0 && job->f.client[0]) {
            ids_throttle_get(ops_store(), txn, key, &tc);
        }
        mdb_txn_abort(txn);
    }
    if (throttled(&ta, now, c->lockout_disable_after)
        || tc.locked_until > now)
    {
        /* refused without looking at the password (the writer says why) */
        job->verdict = ID_V_REFUSED;
        id_to_writer(rq);
        return;
    }
    id_hash_begin();
    if (found && job->account.password_hash[0]) {
        r = password_verify(job->account.password_hash, job->f.password,
            strlen(job->f.password));
        job->verdict = r == PASSWORD_OK ? ID_V_MATCH : ID_V_MISMATCH;
    } else {
        password_verify_nobody(job->f.password, strlen(job->f.password),
            &id_rt()->params);
        job->verdict = found ? ID_V_MISMATCH : ID_V_UNKNOWN;
    }
    id_hash_end();
    if (job->verdict == ID_V_MATCH
        && password_needs_rehash(job->account.password_hash,
               &id_rt()->params))
    {
        if (!hash_password(job, job->f.password, job->new_hash)) {
            job->new_hash[0] = '\0';   /* keep the old hash; not fatal */
        }
    }
    id_to_writer(rq);
}

/*
 * After a wrong password (a sign-in, or the current password of a change)
 * was counted in ta (delay: the lock it started, 0 for none): the audit
 * entry of a lock or a disable it caused, and the answer, disabled, locked
 * for delay seconds, or wrong with the attempts left.  `what` names the
 * attempts in the messages.
 */
static int
failure_answer(MDB_txn *txn, struct hipc_writer *w, const char *curp,
    const char *client, const struct ids_throttle *ta, uint64_t delay,
    const char *what, const char *field, const char *wrong)
{
    const struct hd_identity_config *c = id_rt()->cfg;
    char                              attempts[16];
    int                               rc = 0;

    snprintf(attempts, sizeof(attempts), "%u", ta->failures);
    if (ta->failures == c->lockout_disable_after) {
        rc = id_audit(txn, "system", "account_disabled", curp, client,
            "failures", attempts, (const char *) NULL);
    } else if (delay) {
        rc = id_audit(txn, "system", "account_locked", curp, client,
            "failures", attempts, (const char *) NULL);
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    if (ta->failures >= c->lockout_disable_after) {
        ops_error(w, "account_disabled", NULL, "this account is now "
            "disabled after %u failed %s; an administrator must unlock it, "
            "or recover it by e-mail", ta->failures, what);
        return HIPC_ST_LOCKED | OPS_WRITE_KEEP;
    }
    if (delay) {
        hipc_put_u32(w, HIPC_F_RETRY_AFTER, (uint32_t) delay);
        ops_error(w, "account_locked", NULL, "too many failed %s; wait %u s "
            "before trying again", what, (unsigned) delay);
        return HIPC_ST_LOCKED | OPS_WRITE_KEEP;
    }
    hipc_put_u32(w, HIPC_F_ATTEMPTS_LEFT,
        c->lockout_threshold - ta->failures);
    ops_error(w, "invalid_credentials", field, "%s", wrong);
    return HIPC_ST_UNAUTHORIZED | OPS_WRITE_KEEP;
}

static void
login_prepare(struct hd_request *rq)
{
    static const uint16_t  allowed[] = { T(USER), T(PASSWORD), T(CLIENT), 0 };
    static const uint16_t  required[] = { T(USER), T(PASSWORD), 0 };
    struct id_job          *job = id_job_new(rq, allowed, required);

    if (job) {
        id_dispatch(rq, job, login_run);
    }
}

/*
 * The account as committed now, in place of the copy a worker thread
 * checked the password against: MDB_NOTFOUND also when its password
 * changed meanwhile (a change or recovery committed while the hash was
 * checked), so that no session opens with a password already replaced.
 */
static int
reread_checked(MDB_txn *txn, struct ids_account *checked)
{
    struct ids_account  now;
    int                 rc;

    rc = ids_account_get(ops_store(), txn, checked->curp, &now);
    if (rc == 0 && strcmp(now.password_hash, checked->password_hash) != 0) {
        rc = MDB_NOTFOUND;
    }
    if (rc == 0) {
        *checked = now;
    }
    OPENSSL_cleanse(&now, sizeof(now));
    return rc;
}

static int
login_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job        *job = rq->prep;
    const struct hd_identity_config *c = id_rt()->cfg;
    struct store         *st = ops_store();
    struct ids_throttle   ta, tc;
    char                  akey[400], ckey[100], attempts[16];
    const char           *target = job->account.curp[0] ? job->account.curp
                                   : job->f.user;
    uint64_t              now = id_now(), delay;
    int                   rc;

    throttle_key(akey, sizeof(akey), job);
    client_key(ckey, sizeof(ckey), job);
    if ((rc = ids_throttle_get(st, txn, akey, &ta)) != 0
        || (job->f.client[0] && (rc = ids_throttle_get(st, txn, ckey, &tc))
            != 0))
    {
        goto storage;
    }
    if (!job->f.client[0]) {
        memset(&tc, 0, sizeof(tc));
    }
    if (ta.failures >= c->lockout_disable_after) {
        rc = id_audit(txn, target, "login_refused", target, job->f.client,
            "reason", "account_disabled", (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        ops_error(w, "account_disabled", NULL, "this account is disabled "
            "after too many failed sign-ins; an administrator must unlock "
            "it, or recover it by e-mail");
        return HIPC_ST_LOCKED | OPS_WRITE_KEEP;
    }
    if (ta.locked_until > now || tc.locked_until > now
        || job->verdict == ID_V_REFUSED)
    {
        int  by_client = ta.locked_until <= now && tc.locked_until > now;

        delay = by_client ? tc.locked_until - now
                : ta.locked_until > now ? ta.locked_until - now : 1;
        rc = id_audit(txn, target, "login_refused", target, job->f.client,
            "reason", by_client ? "too_many_attempts" : "account_locked",
            (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        hipc_put_u32(w, HIPC_F_RETRY_AFTER, (uint32_t) delay);
        if (by_client) {
            ops_error(w, "too_many_attempts", NULL, "too many failed "
                "sign-ins from this address; wait %u s",
                (unsigned) delay);
            return HIPC_ST_RATE_LIMITED | OPS_WRITE_KEEP;
        }
        ops_error(w, "account_locked", NULL, "too many failed sign-ins; "
            "wait %u s before trying again", (unsigned) delay);
        return HIPC_ST_LOCKED | OPS_WRITE_KEEP;
    }
    if (job->verdict == ID_V_MATCH
        && (rc = reread_checked(txn, &job->account)) != 0)
    {
        if (rc != MDB_NOTFOUND) {
            goto storage;
        }
        job->verdict = ID_V_MISMATCH;
    }
    if (job->verdict == ID_V_MATCH) {
        if ((rc = ids_throttle_clear(st, txn, akey)) != 0
            || (job->f.client[0]
                && (rc = ids_throttle_clear(st, txn, ckey)) != 0))
        {
            goto storage;
        }
        if (job->new_hash[0]) {
            memcpy(job->account.password_hash, job->new_hash,
                sizeof(job->new_hash));
            if ((rc = ids_account_put(st, txn, &job->account)) != 0) {
                goto storage;
            }
        }
        rc = id_audit(txn, job->account.curp, "login", job->account.curp,
            job->f.client, "method", "password", "rehashed",
            job->new_hash[0] ? "yes" : NULL, (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        id_put_identity(w, &job->account, "password");
        id_put_password_changed(w, &job->account);
        return HIPC_ST_OK;
    }

    ta.failures++;
    ta.last_failure = now;
    delay = lock_delay(ta.failures, c->lockout_threshold);
    if (delay) {
        ta.locked_until = now + delay;
    }
    if (job->f.client[0]) {
        tc.failures++;
        tc.last_failure = now;
        if (tc.failures >= c->client_threshold) {
            tc.locked_until = now + lock_delay(tc.failures,
                c->client_threshold);
        }
        if ((rc = ids_throttle_put(st, txn, ckey, &tc)) != 0) {
            goto storage;
        }
    }
    if ((rc = ids_throttle_put(st, txn, akey, &ta)) != 0) {
        goto storage;
    }
    snprintf(attempts, sizeof(attempts), "%u", ta.failures);
    rc = id_audit(txn, target, "login_failed", target, job->f.client,
        "method", "password", "failures", attempts, (const char *) NULL);
    if (rc != 0) {
        goto storage;
    }
    /* No field: naming the password would tell that the user exists. */
    return failure_answer(txn, w, target, job->f.client, &ta, delay,
        "sign-ins", NULL, "the user or the password is not correct");

storage:
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

/* ---- PASSWORD_CHANGE ------------------------------------------------------ */

/*
 * A wrong current password counts as a failed sign-in of the account (the
 * same counter, delays and disabling as LOGIN_PASSWORD): a session alone,
 * stolen or left open, must not allow guessing the password without limit.
 */

static void
change_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;
    struct id_job      *job = rq->prep;
    const struct hd_identity_config *c = id_rt()->cfg;
    enum password_result r = PASSWORD_MISMATCH;
    struct ids_throttle ta;
    char                key[400];
    MDB_txn            *txn;

    (void) th;
    if (pool_expired(rq)) {
        return;
    }
    if (load_account(job, job->f.curp, 1) != 0) {
        ops_fail(&job->err, HIPC_ST_NOT_FOUND, "account_not_found", "curp",
            "no account with this CURP");
        pool_fail(rq);
        return;
    }
    memset(&ta, 0, sizeof(ta));
    if (store_read_begin(ops_store(), &txn) == 0) {
        throttle_key(key, sizeof(key), job);
        ids_throttle_get(ops_store(), txn, key, &ta);
        mdb_txn_abort(txn);
    }
    if (throttled(&ta, id_now(), c->lockout_disable_after)) {
        job->verdict = ID_V_REFUSED;         /* the writer says why */
        id_to_writer(rq);
        return;
    }
    if (job->account.password_hash[0]) {
        id_hash_begin();
        r = password_verify(job->account.password_hash, job->f.password,
            strlen(job->f.password));
        id_hash_end();
    }
    if (r != PASSWORD_OK) {
        job->verdict = ID_V_MISMATCH;        /* audited by the writer */
        id_to_writer(rq);
        return;
    }
    if (!policy_ok(job, job->f.new_password, "new_password", &job->account)
        || !hash_password(job, job->f.new_password, job->new_hash))
    {
        pool_fail(rq);
        return;
    }
    job->verdict = ID_V_MATCH;
    id_to_writer(rq);
}

static int
change_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    const struct hd_identity_config *c = id_rt()->cfg;
    struct ids_throttle ta;
    char            akey[400], attempts[16];
    uint64_t        now = id_now(), delay;
    int             rc;

    throttle_key(akey, sizeof(akey), job);
    if ((rc = ids_throttle_get(ops_store(), txn, akey, &ta)) != 0) {
        goto storage;
    }
    if (job->verdict == ID_V_REFUSED
        || throttled(&ta, now, c->lockout_disable_after))
    {
        int  disabled = ta.failures >= c->lockout_disable_after;

        rc = id_audit(txn, job->f.curp, "password_change_failed",
            job->f.curp, job->f.client, "reason",
            disabled ? "account_disabled" : "account_locked",
            (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        if (disabled) {
            ops_error(w, "account_disabled", NULL, "this account is "
                "disabled after too many failed attempts; an administrator "
                "must unlock it, or recover it by e-mail");
            return HIPC_ST_LOCKED | OPS_WRITE_KEEP;
        }
        delay = ta.locked_until > now ? ta.locked_until - now : 1;
        hipc_put_u32(w, HIPC_F_RETRY_AFTER, (uint32_t) delay);
        ops_error(w, "account_locked", NULL, "too many wrong passwords; "
            "wait %u s before trying again", (unsigned) delay);
        return HIPC_ST_LOCKED | OPS_WRITE_KEEP;
    }
    if (job->verdict != ID_V_MATCH) {
        ta.failures++;
        ta.last_failure = now;
        delay = lock_delay(ta.failures, c->lockout_threshold);
        if (delay) {
            ta.locked_until = now + delay;
        }
        if ((rc = ids_throttle_put(ops_store(), txn, akey, &ta)) != 0) {
            goto storage;
        }
        snprintf(attempts, sizeof(attempts), "%u", ta.failures);
        rc = id_audit(txn, job->f.curp, "password_change_failed",
            job->f.curp, job->f.client, "reason", "invalid_credentials",
            "failures", attempts, (const char *) NULL);
        if (rc != 0) {
            goto storage;
        }
        return failure_answer(txn, w, job->f.curp, job->f.client, &ta,
            delay, "attempts", "password",
            "the current password is not correct");
    }
    if ((rc = ids_throttle_clear(ops_store(), txn, akey)) != 0) {
        goto storage;
    }
    /* re-read: another change may have committed since */
    rc = ids_account_get(ops_store(), txn, job->f.curp, &job->account);
    if (rc == 0) {
        memcpy(job->account.password_hash, job->new_hash,
            sizeof(job->new_hash));
        id_password_changed(&job->account);
        rc = ids_account_put(ops_store(), txn, &job->account);
    }
    if (rc == 0) {
        /* every nginx ends the sessions proven before it */
        rc = credev_record(txn, job->f.curp, CREDEV_PASSWORD,
            job->account.password_changed);
    }
    if (rc == 0) {
        rc = id_audit(txn, job->f.curp, "password_changed", job->f.curp,
            job->f.client, (const char *) NULL);
    }
    if (rc != 0) {
        goto storage;
    }
    hipc_put_str(w, HIPC_F_CURP, job->f.curp);
    /* the caller's session proved the new password after this instant */
    id_put_password_changed(w, &job->account);
    return HIPC_ST_OK;

storage:
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

/* ---- RECOVERY_START / RECOVERY_FINISH ------------------------------------- */

static const char *
generic_question(const char *user)
{
    uint8_t  h[32];
    char     buf[300];

    /* Stable per user (so asking twice does not reveal that it is made
     * up) and not predictable without the daemon's secret. */
    snprintf(buf, sizeof(buf), "%s", user);
    id_sha256(buf, strlen(buf), h);
    return generic_questions[(h[0] ^ id_secret_byte())
                             % (sizeof(generic_questions)
                                / sizeof(generic_questions[0]))];
}

static void
recovery_question(struct hd_request *rq, struct id_job *job,
    struct hd_thread *th)
{
    struct hipc_writer  w;
    const char         *q;

    q = load_account(job, job->f.user, 0) == 0 && job->account.question[0]
        ? job->account.question : generic_question(job->f.user);
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    hipc_put_str(&w, HIPC_F_QUESTION, q);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
    free(job);
}

static void
recovery_start_run(void *arg, struct hd_thread *th)
{
    struct hd_request    *rq = arg;
    struct id_job        *job = rq->prep;
    enum password_result  r = PASSWORD_MISMATCH;
    int                   found;

    (void) th;
    if (pool_expired(rq)) {
        return;
    }
    found = load_account(job, job->f.user, 0) == 0;
    id_hash_begin();
    if (found && job->account.answer_hash[0]) {
        r = password_answer_verify(job->account.answer_hash, job->f.answer,
            strlen(job->f.answer));
    } else {
        password_verify_nobody(job->f.answer, strlen(job->f.answer),
            &id_rt()->params);
    }
    id_hash_end();
    job->verdict = !found ? ID_V_UNKNOWN
                   : r == PASSWORD_OK ? ID_V_MATCH : ID_V_MISMATCH;
    if (job->verdict == ID_V_MATCH) {
        if (id_random_token(job->secret, sizeof(job->secret), 32) != 0) {
            job->verdict = ID_V_MISMATCH;
        } else {
            id_sha256(job->secret, strlen(job->secret), job->secret_hash);
            job->expires = id_now() + id_rt()->cfg->recovery_lifetime_s;
        }
    }
    id_to_writer(rq);
}

static int
recovery_start_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    const char     *target = job->account.curp[0] ? job->account.curp
                             : job->f.user;
    int             rc;

    (void) w;
    ids_prune(ops_store(), txn, id_now(), 32);
    if (job->verdict == ID_V_MATCH) {
        rc = ids_recovery_put(ops_store(), txn, job->secret_hash,
            job->account.curp, job->expires);
        if (rc == 0) {
            rc = id_audit(txn, target, "recovery_requested", target,
                job->f.client, "mailed", job->account.email[0] ? "yes"
                : "no e-mail on file", (const char *) NULL);
        }
    } else {
        rc = id_audit(txn, target, "recovery_failed", target, job->f.client,
            "reason", job->verdict == ID_V_UNKNOWN ? "unknown_user"
            : "wrong_answer", (const char *) NULL);
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    return HIPC_ST_OK;      /* the same answer whatever happened */
}

static void
mail_smtp_job(void *arg, struct hd_thread *th)
{
    char  *msg = arg, err[256], from[300];
    const struct hd_identity_config *c = id_rt()->cfg;
    char  *to = msg + strlen(msg) + 1;

    (void) th;
    mail_address(c->mail_from, from, sizeof(from));
    if (mail_smtp_send(c->smtp_host, c->smtp_port, c->mail_from, to, msg,
            err, sizeof(err)) != 0)
    {
        fprintf(stderr, "huellad: recovery mail to %s not sent: %s\n", to,
            err);
    }
    free(msg);
}

void
accounts_committed(struct hd_request *rq, int status)
{
    const struct hd_identity_config *c = id_rt()->cfg;
    struct id_job  *job = rq->prep;
    char            body[2048], err[256], *msg, *copy;
    size_t          len;

    if (status != HIPC_ST_OK || job == NULL || job->verdict != ID_V_MATCH
        || job->account.email[0] == '\0')
    {
        return;
    }
    snprintf(body, sizeof(body),
        "Hola %s:\n\n"
        "Recibimos una solicitud para restablecer tu contraseña de Huella.\n"
        "Abre este enlace (válido %u minutos, un solo uso):\n\n"
        "%s/recuperar.html#token=%s\n\n"
        "Si no la pediste tú, ignora este mensaje: tu contraseña no cambia.\n"
        "\n-- \nHuella\n",
        job->account.name, c->recovery_lifetime_s / 60, c->portal_base_url,
        job->secret);
    msg = mail_compose(c->mail_from, job->account.email,
        "Huella: restablecer tu contraseña", body);
    if (msg == NULL) {
        return;
    }
    if (c->outbox_dir[0]) {
        /* a local file: cheap enough for the writer thread */
        if (mail_outbox_write(c->outbox_dir, msg, NULL, 0, err,
                sizeof(err)) != 0)
        {
            fprintf(stderr, "huellad: recovery mail not written: %s\n", err);
        }
    } else if (c->smtp_port) {
        /* the network is not: the pool sends it */
        len = strlen(msg);
        copy = malloc(len + strlen(job->account.email) + 2);
        if (copy) {
            memcpy(copy, msg, len + 1);
            strcpy(copy + len + 1, job->account.email);
            if (pool_submit(mail_smtp_job, copy) != 0) {
                free(copy);
            }
        }
    } else {
        fprintf(stderr, "huellad: no identity.mail configured; recovery "
            "link for %s not sent\n", job->account.curp);
    }
    OPENSSL_cleanse(body, sizeof(body));
    free(msg);
}

static void
recovery_finish_run(void *arg, struct hd_thread *th)
{
    struct hd_request  *rq = arg;
    struct id_job      *job = rq->prep;
    MDB_txn            *txn;
    char                curp[STORE_CURP_MAX];
    uint64_t            expires = 0;
    int                 rc = MDB_NOTFOUND;

    (void) th;
    if (pool_expired(rq)) {
        return;
    }
    id_sha256(job->f.token, strlen(job->f.token), job->secret_hash);
    if (job->f.token[0] && store_read_begin(ops_store(), &txn) == 0) {
        rc = ids_recovery_get(ops_store(), txn, job->secret_hash, curp,
            &expires);
        mdb_txn_abort(txn);
    }
    if (rc != 0 || expires < id_now()) {
        ops_fail(&job->err, HIPC_ST_UNAUTHORIZED, rc != 0
            ? "recovery_token_invalid" : "recovery_token_expired", "token",
            rc != 0 ? "this recovery link is not valid (or was used)"
            : "this recovery link has expired; ask for a new one");
        pool_fail(rq);
        return;
    }
    if (load_account(job, curp, 1) != 0) {
        ops_fail(&job->err, HIPC_ST_UNAUTHORIZED, "recovery_token_invalid",
            "token", "this recovery link is not valid");
        pool_fail(rq);
        return;
    }
    if (!policy_ok(job, job->f.new_password, "new_password", &job->account)
        || !hash_password(job, job->f.new_password, job->new_hash))
    {
        pool_fail(rq);
        return;
    }
    id_to_writer(rq);
}

static int
recovery_finish_write(struct hd_request *rq, MDB_txn *txn,
    struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    char            curp[STORE_CURP_MAX], key[64];
    uint64_t        expires;
    int             rc;

    /* single use: whoever commits first wins */
    rc = ids_recovery_get(ops_store(), txn, job->secret_hash, curp,
        &expires);
    if (rc == MDB_NOTFOUND || (rc == 0 && expires < id_now())) {
        ops_error(w, "recovery_token_invalid", "token", "this recovery link "
            "is not valid (or was used)");
        return HIPC_ST_UNAUTHORIZED;
    }
    if (rc == 0) {
        rc = ids_recovery_delete(ops_store(), txn, job->secret_hash);
    }
    if (rc == 0) {
        rc = ids_account_get(ops_store(), txn, curp, &job->account);
    }
    if (rc == 0) {
        memcpy(job->account.password_hash, job->new_hash,
            sizeof(job->new_hash));
        id_password_changed(&job->account);
        rc = ids_account_put(ops_store(), txn, &job->account);
    }
    if (rc == 0) {
        /* the answer names the account to one nginx; the log to all */
        rc = credev_record(txn, curp, CREDEV_PASSWORD,
            job->account.password_changed);
    }
    snprintf(key, sizeof(key), "a:%s", curp);
    if (rc == 0) {
        /* proving control of the mailbox ends a lockout, too */
        rc = ids_throttle_clear(ops_store(), txn, key);
    }
    if (rc == 0) {
        rc = id_audit(txn, curp, "recovery_completed", curp, job->f.client,
            (const char *) NULL);
    }
    if (rc != 0) {
        ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
        return HIPC_ST_INTERNAL;
    }
    hipc_put_str(w, HIPC_F_CURP, curp);
    return HIPC_ST_OK;
}

/* ---- ACCOUNT_GET, ROLES_SET, ACCOUNT_UNLOCK ------------------------------- */

static void
account_get(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  tags[] = { T(CURP), 0 };
    struct id_fields       f;
    struct ops_err          e;
    struct ids_account     a;
    struct hipc_writer     w;
    MDB_txn               *txn;
    int                    rc;

    if (id_decode(rq, tags, tags, &f, &e) != 0) {
        ops_reply_err(rq, &e);
        return;
    }
    rc = store_read_begin(ops_store(), &txn);
    if (rc == 0) {
        rc = ids_account_get(ops_store(), txn, f.curp, &a);
        mdb_txn_abort(txn);
    }
    if (rc == MDB_NOTFOUND) {
        ops_reply_error(rq, HIPC_ST_NOT_FOUND, "account_not_found", "curp",
            "no account with CURP %s", f.curp);
        return;
    }
    if (rc != 0) {
        ops_reply_error(rq, HIPC_ST_INTERNAL, "storage_error", NULL, "%s",
            mdb_strerror(rc));
        return;
    }
    hipc_writer_init(&w, th->reply, sizeof(th->reply));
    id_put_identity(&w, &a, a.password_hash[0] ? "password" : "efirma");
    if (a.nss[0]) {
        hipc_put_str(&w, HIPC_F_NSS, a.nss);
    }
    if (a.question[0]) {
        hipc_put_str(&w, HIPC_F_QUESTION, a.question);
    }
    if (a.matricula[0]) {
        hipc_put_str(&w, HIPC_F_MATRICULA, a.matricula);
    }
    hipc_put_u64(&w, HIPC_F_CREATED, a.created);
    hd_reply(rq, HIPC_ST_OK, th->reply, w.len);
}

static int
admin_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    struct id_job  *job = rq->prep;
    char            key[64], before[IDS_ROLES_MAX];
    int             rc;

    rc = ids_account_get(ops_store(), txn, job->f.curp, &job->account);
    if (rc == MDB_NOTFOUND) {
        ops_error(w, "account_not_found", "curp", "no account with CURP %s",
            job->f.curp);
        return HIPC_ST_NOT_FOUND;
    }
    if (rc != 0) {
        goto storage;
    }
    if (rq->op == HIPC_OP_ACCOUNT_UNLOCK) {
        snprintf(key, sizeof(key), "a:%s", job->f.curp);
        rc = ids_throttle_clear(ops_store(), txn, key);
        if (rc == 0) {
            rc = id_audit(txn, job->f.actor, "account_unlocked",
                job->f.curp, job->f.client, (const char *) NULL);
        }
        if (rc != 0) {
            goto storage;
        }
        hipc_put_str(w, HIPC_F_CURP, job->f.curp);
        return HIPC_ST_OK;
    }
    memcpy(before, job->account.roles, sizeof(before));
    memcpy(job->account.roles, job->f.roles, sizeof(job->f.roles));
    if (id_roles_has(job->f.roles, "employer_rep")) {
        memcpy(job->account.account_rfc, job->f.account_rfc,
            sizeof(job->f.account_rfc));
    } else {
        job->account.account_rfc[0] = '\0';
    }
    rc = ids_account_put(ops_store(), txn, &job->account);
    if (rc == 0) {
        /* the account's sessions carry the old roles: they end */
        rc = credev_record(txn, job->f.curp, CREDEV_ROLES,
            (uint64_t) id_now_ms());
    }
    if (rc == 0) {
        rc = id_audit(txn, job->f.actor, "roles_set", job->f.curp,
            job->f.client, "roles", job->account.roles, "previous", before,
            "account_rfc", job->account.account_rfc[0]
            ? job->account.account_rfc : NULL, (const char *) NULL);
    }
    if (rc != 0) {
        goto storage;
    }
    id_put_identity(w, &job->account, job->account.password_hash[0]
        ? "password" : "efirma");
    return HIPC_ST_OK;

storage:
    ops_error(w, "storage_error", NULL, "%s", mdb_strerror(rc));
    return HIPC_ST_INTERNAL;
}

/* ---- entry points --------------------------------------------------------- */

void
accounts_handle(struct hd_request *rq, struct hd_thread *th)
{
    static const uint16_t  change_tags[] = { T(CURP), T(PASSWORD),
        T(NEW_PASSWORD), T(CLIENT), 0 };
    static const uint16_t  change_req[] = { T(CURP), T(PASSWORD),
        T(NEW_PASSWORD), 0 };
    static const uint16_t  start_tags[] = { T(USER), T(ANSWER), T(CLIENT),
        0 };
    static const uint16_t  start_req[] = { T(USER), 0 };
    static const uint16_t  finish_tags[] = { T(TOKEN), T(NEW_PASSWORD),
        T(CLIENT), 0 };
    static const uint16_t  finish_req[] = { T(TOKEN), T(NEW_PASSWORD), 0 };
    static const uint16_t  roles_tags[] = { T(CURP), T(ROLES),
        T(ACCOUNT_RFC), T(ACTOR), T(CLIENT), 0 };
    static const uint16_t  roles_req[] = { T(CURP), T(ROLES), T(ACTOR), 0 };
    static const uint16_t  unlock_tags[] = { T(CURP), T(ACTOR), T(CLIENT),
        0 };
    static const uint16_t  unlock_req[] = { T(CURP), T(ACTOR), 0 };
    struct id_job         *job;

    switch (rq->op) {
    case HIPC_OP_ACCOUNT_CREATE:
        create_prepare(rq);
        return;
    case HIPC_OP_LOGIN_PASSWORD:
        login_prepare(rq);
        return;
    case HIPC_OP_ACCOUNT_GET:
        account_get(rq, th);
        return;
    case HIPC_OP_PASSWORD_CHANGE:
        if ((job = id_job_new(rq, change_tags, change_req)) != NULL) {
            id_dispatch(rq, job, change_run);
        }
        return;
    case HIPC_OP_RECOVERY_START:
        if ((job = id_job_new(rq, start_tags, start_req)) == NULL) {
            return;
        }
        if (!id_has(&job->f, HIPC_F_ANSWER)) {
            recovery_question(rq, job, th);
            return;
        }
        id_dispatch(rq, job, recovery_start_run);
        return;
    case HIPC_OP_RECOVERY_FINISH:
        if ((job = id_job_new(rq, finish_tags, finish_req)) != NULL) {
            id_dispatch(rq, job, recovery_finish_run);
        }
        return;
    case HIPC_OP_ROLES_SET:
        if ((job = id_job_new(rq, roles_tags, roles_req)) == NULL) {
            return;
        }
        if (id_roles_has(job->f.roles, "employer_rep")
            && job->f.account_rfc[0] == '\0')
        {
            ops_reply_error(rq, HIPC_ST_INVALID, "account_rfc_required",
                "account_rfc", "the employer_rep role is bound to a company "
                "RFC: give ACCOUNT_RFC");
            free(job);
            return;
        }
        id_dispatch(rq, job, NULL);
        return;
    case HIPC_OP_ACCOUNT_UNLOCK:
        if ((job = id_job_new(rq, unlock_tags, unlock_req)) != NULL) {
            id_dispatch(rq, job, NULL);
        }
        return;
    default:
        ops_reply_error(rq, HIPC_ST_BAD_REQUEST, "unknown_op", NULL,
            "operation %u is unknown", rq->op);
        return;
    }
}

int
accounts_write(struct hd_request *rq, MDB_txn *txn, struct hipc_writer *w)
{
    switch (rq->op) {
    case HIPC_OP_ACCOUNT_CREATE: return create_write(rq, txn, w);
    case HIPC_OP_LOGIN_PASSWORD: return login_write(rq, txn, w);
    case HIPC_OP_PASSWORD_CHANGE: return change_write(rq, txn, w);
    case HIPC_OP_RECOVERY_START: return recovery_start_write(rq, txn, w);
    case HIPC_OP_RECOVERY_FINISH: return recovery_finish_write(rq, txn, w);
    default: return admin_write(rq, txn, w);
    }
}
