/*
 * ctl_daemon.c -- huellactl's subcommands that talk to a running huellad:
 * ping, stats, backup DEST, import DIR.
 *
 * The socket is `--socket PATH` (after the subcommand), else $HUELLA_SOCKET,
 * else var/huellad.sock: run from the checkout, huellactl talks to the
 * `./build.sh run` instance.
 *
 * import DIR enrolls DIR/manifest.tsv (CURP<TAB>POSITION<TAB>FILE, '#'
 * comments; names and NSS from DIR/subjects.tsv when present), or, without
 * a manifest, every *.iso in DIR as one synthetic subject each with a valid
 * CURP.  Records go in batches as large as a slot allows, from a few threads
 * at once, so huellad's writer folds several batches into one commit.
 * huellad rejects a record, with the reason, that the API would refuse as a
 * subject (CURP or NSS check digit, a population registry record that
 * disagrees) and one whose template does not parse; the rest go in.
 */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "huella_ipc.h"
#include "ipc_client.h"

#define CTL_TIMEOUT_MS        5000
#define CTL_SLOW_TIMEOUT_MS   600000
#define CTL_BATCH_BYTES       (60u * 1024u)
#define CTL_IMPORT_THREADS    3

/* ---- common --------------------------------------------------------------- */

/* Strips --socket PATH from argv; returns the socket to use. */
static const char *
ctl_socket(int *argc, char **argv)
{
    const char  *path = NULL;
    int          i, j;

    for (i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < *argc) {
            path = argv[i + 1];
            for (j = i; j + 2 <= *argc; j++) {
                argv[j] = argv[j + 2];
            }
            *argc -= 2;
            i--;
        } else if (strncmp(argv[i], "--socket=", 9) == 0) {
            path = argv[i] + 9;
            for (j = i; j + 1 <= *argc; j++) {
                argv[j] = argv[j + 1];
            }
            *argc -= 1;
            i--;
        }
    }
    if (path == NULL) {
        path = getenv("HUELLA_SOCKET");
    }
    return path && *path ? path : "var/huellad.sock";
}

static struct hipc_client *
ctl_connect(const char *path)
{
    struct hipc_client  *c;
    char                 err[512];

    c = hipc_client_connect(path, CTL_TIMEOUT_MS, err, sizeof(err));
    if (c == NULL) {
        fprintf(stderr, "huellactl: %s\n", err);
    }
    return c;
}

static uint64_t
field_u64(const uint8_t *buf, size_t len, uint16_t tag)
{
    const uint8_t  *d;
    uint32_t        n;
    uint64_t        v = 0;

    if (hipc_find(buf, len, tag, &d, &n) == 1) {
        hipc_get_u64(d, n, &v);
    }
    return v;
}

static void
print_error(const char *what, int status, const uint8_t *buf, size_t len)
{
    const uint8_t  *d;
    uint32_t        n;

    fprintf(stderr, "huellactl: %s: %s", what, hipc_status_name(status));
    if (hipc_find(buf, len, HIPC_F_MESSAGE, &d, &n) == 1) {
        fprintf(stderr, ": %.*s", (int) n, (const char *) d);
    }
    fputc('\n', stderr);
}

static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- ping / stats --------------------------------------------------------- */

static int
ping_or_stats(int argc, char **argv, int op)
{
    const char          *sock = ctl_socket(&argc, argv);
    struct hipc_client  *c;
    static uint8_t       rep[HIPC_PAYLOAD_MAX];
    struct hipc_reader   r, sr;
    const uint8_t       *d, *sd;
    uint32_t             n, sn;
    uint16_t             tag, stag;
    size_t               len;
    int                  status;
    double               t0;
    char                 name[128];
    uint64_t             value;

    if (argc != 1) {
        fprintf(stderr, "usage: huellactl %s [--socket PATH]\n", argv[0]);
        return 2;
    }
    if ((c = ctl_connect(sock)) == NULL) {
        return 1;
    }
    t0 = now_s();
    if (hipc_client_call(c, (uint16_t) op, NULL, 0, rep, sizeof(rep), &len,
            &status, CTL_TIMEOUT_MS) != 0)
    {
        fprintf(stderr, "huellactl: %s: %s\n", argv[0], strerror(errno));
        hipc_client_close(c);
        return 1;
    }
    if (status != HIPC_ST_OK) {
        print_error(argv[0], status, rep, len);
        hipc_client_close(c);
        return 1;
    }
    if (op == HIPC_OP_PING) {
        printf("huellad pid %llu is up: %llu subjects, %llu templates, "
            "uptime %llu s, round trip %.0f us\n",
            (unsigned long long) field_u64(rep, len, HIPC_F_PID),
            (unsigned long long) field_u64(rep, len, HIPC_F_SUBJECTS),
            (unsigned long long) field_u64(rep, len, HIPC_F_TEMPLATES),
            (unsigned long long) field_u64(rep, len, HIPC_F_UPTIME),
            (now_s() - t0) * 1e6);
    } else {
        printf("pid\t%llu\nsubjects\t%llu\ntemplates\t%llu\nuptime_s\t%llu\n",
            (unsigned long long) field_u64(rep, len, HIPC_F_PID),
            (unsigned long long) field_u64(rep, len, HIPC_F_SUBJECTS),
            (unsigned long long) field_u64(rep, len, HIPC_F_TEMPLATES),
            (unsigned long long) field_u64(rep, len, HIPC_F_UPTIME));
        hipc_reader_init(&r, rep, len);
        while (hipc_next(&r, &tag, &d, &n) == 1) {
            if (tag != HIPC_F_STAT) {
                continue;
            }
            name[0] = '\0';
            value = 0;
            hipc_reader_init(&sr, d, n);
            while (hipc_next(&sr, &stag, &sd, &sn) == 1) {
                if (stag == HIPC_F_NAME && sn < sizeof(name)) {
                    memcpy(name, sd, sn);
                    name[sn] = '\0';
                } else if (stag == HIPC_F_VALUE) {
                    hipc_get_u64(sd, sn, &value);
                }
            }
            printf("%s\t%llu\n", name, (unsigned long long) value);
        }
    }
    hipc_client_close(c);
    return 0;
}

int
ctl_ping(int argc, char **argv)
{
    return ping_or_stats(argc, argv, HIPC_OP_PING);
}

int
ctl_stats(int argc, char **argv)
{
    return ping_or_stats(argc, argv, HIPC_OP_STATS);
}

/* ---- backup --------------------------------------------------------------- */

int
ctl_backup(int argc, char **argv)
{
    const char          *sock = ctl_socket(&argc, argv);
    struct hipc_client  *c;
    uint8_t              req[PATH_MAX + 64], rep[4096];
    char                 dest[PATH_MAX], cwd[PATH_MAX];
    struct hipc_writer   w;
    struct stat          st;
    size_t               len;
    int                  status;
    double               t0;

    if (argc != 2) {
        fprintf(stderr, "usage: huellactl backup [--socket PATH] DEST\n");
        return 2;
    }
    /* huellad resolves paths against its own cwd: send an absolute one. */
    if (argv[1][0] == '/') {
        snprintf(dest, sizeof(dest), "%s", argv[1]);
    } else if (getcwd(cwd, sizeof(cwd)) == NULL
               || snprintf(dest, sizeof(dest), "%s/%s", cwd, argv[1])
                  >= (int) sizeof(dest))
    {
        fprintf(stderr, "huellactl: backup: path too long\n");
        return 2;
    }
    if ((c = ctl_connect(sock)) == NULL) {
        return 1;
    }
    hipc_writer_init(&w, req, sizeof(req));
    hipc_put_str(&w, HIPC_F_PATH, dest);
    t0 = now_s();
    if (hipc_client_call(c, HIPC_OP_BACKUP, req, w.len, rep, sizeof(rep),
            &len, &status, CTL_SLOW_TIMEOUT_MS) != 0)
    {
        fprintf(stderr, "huellactl: backup: %s\n", strerror(errno));
        hipc_client_close(c);
        return 1;
    }
    hipc_client_close(c);
    if (status != HIPC_ST_OK) {
        print_error("backup", status, rep, len);
        return 1;
    }
    if (snprintf(cwd, sizeof(cwd), "%.*s/data.mdb", (int) sizeof(cwd) - 10,
            dest) < 0)
    {
        cwd[0] = '\0';
    }
    printf("backup written to %s (%lld bytes) in %.2f s\n", cwd,
        stat(cwd, &st) == 0 ? (long long) st.st_size : -1LL, now_s() - t0);
    return 0;
}

/* ---- import --------------------------------------------------------------- */

struct import_entry {
    char      curp[40];
    char      nss[16];
    char      name[256];
    unsigned  position;
    char     *file;
};

struct import_job {
    struct hipc_client   *client;
    struct import_entry  *entries;
    size_t                n;
    size_t                next;         /* next entry to send */
    pthread_mutex_t       lock;
    uint64_t              imported;
    uint64_t              rejected;
    unsigned              shown;
    int                   failed;
};

static const char curp_alphabet[] = "0123456789ABCDEFGHIJKLMN\xD1OPQRSTUVWXYZ";

/* The CURP check digit (DESIGN.md section 3): weighted sum of the first
 * 17 characters' positions in 0-9 A-N Ñ O-Z, weights 18..2, mod 10. */
static int
curp_check_digit(const char *curp17)
{
    unsigned  sum = 0, i;
    const char *p;

    for (i = 0; i < 17; i++) {
        p = strchr(curp_alphabet, curp17[i]);
        if (p == NULL || curp17[i] == '\0') {
            return -1;
        }
        sum += (unsigned) (p - curp_alphabet) * (18 - i);
    }
    return (int) ((10 - sum % 10) % 10);
}

/* A unique, valid synthetic CURP per index: fixed name letters, the index
 * spread over birth date (20,160 dates), sex, state and the three internal
 * consonants (186 million combinations before repeating). */
static void
synthetic_curp(size_t index, char out[19])
{
    static const char  consonants[] = "BCDFGHJKLMNPQRSTVWXYZ";
    static const char *const states[] = {
        "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT",
        "GR", "HG", "JC", "MC", "MN", "MS", "NT", "NL", "OC", "PL", "QT",
        "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS"
    };
    size_t  n = index;
    int     day, month, year, check;

    day = (int) (n % 28) + 1;
    n /= 28;
    month = (int) (n % 12) + 1;
    n /= 12;
    year = (int) (n % 60) + 40;     /* 1940..1999: homoclave is a digit */
    n /= 60;
    snprintf(out, 19, "HUEL%02d%02d%02d%c%s%c%c%c0", year, month, day,
        index % 2 ? 'M' : 'H', states[index % 32], consonants[n % 21],
        consonants[(n / 21) % 21], consonants[(n / 441) % 21]);
    check = curp_check_digit(out);
    out[17] = (char) ('0' + (check < 0 ? 0 : check));
    out[18] = '\0';
}

static unsigned
detect_format(const uint8_t *b, size_t len)
{
    uint32_t  l32;
    uint16_t  l16;

    if (len >= 14 && memcmp(b, "FMR\0 20\0", 8) == 0) {
        l32 = (uint32_t) b[8] << 24 | (uint32_t) b[9] << 16
              | (uint32_t) b[10] << 8 | b[11];
        if (l32 == len) {
            return HIPC_FMT_ISO19794_2_2005;
        }
        l16 = (uint16_t) (b[8] << 8 | b[9]);
        l32 = (uint32_t) b[10] << 24 | (uint32_t) b[11] << 16
              | (uint32_t) b[12] << 8 | b[13];
        if (l16 == len || (l16 == 0 && l32 == len)) {
            return HIPC_FMT_ANSI378_2004;
        }
    }
    return HIPC_FMT_ISO19794_2_2005;    /* huellad will say what is wrong */
}

static int
read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    FILE    *f = fopen(path, "rb");
    size_t   n;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, cap, f);
    if (ferror(f) || (n == cap && fgetc(f) != EOF)) {
        fclose(f);
        errno = EFBIG;
        return -1;
    }
    fclose(f);
    *len = n;
    return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct import_entry *) a)->file,
        ((const struct import_entry *) b)->file);
}

static int
add_entry(struct import_entry **v, size_t *n, size_t *cap,
    const struct import_entry *e)
{
    if (*n == *cap) {
        size_t  nc = *cap ? *cap * 2 : 1024;
        void   *nv = realloc(*v, nc * sizeof(**v));

        if (nv == NULL) {
            return -1;
        }
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = *e;
    return 0;
}

/* Reads DIR/subjects.tsv (CURP NSS NAME) to give imported subjects names. */
static void
apply_subjects(const char *dir, struct import_entry *v, size_t n)
{
    char   path[PATH_MAX], line[1024], *curp, *nss, *name, *save;
    FILE  *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/subjects.tsv", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0') {
            continue;
        }
        curp = strtok_r(line, "\t", &save);
        nss = strtok_r(NULL, "\t", &save);
        name = strtok_r(NULL, "\t", &save);
        if (curp == NULL) {
            continue;
        }
        for (i = 0; i < n; i++) {
            if (strcmp(v[i].curp, curp) == 0) {
                snprintf(v[i].nss, sizeof(v[i].nss), "%s", nss ? nss : "");
                snprintf(v[i].name, sizeof(v[i].name), "%s",
                    name ? name : "");
            }
        }
    }
    fclose(f);
}

static int
load_manifest(const char *dir, FILE *f, struct import_entry **v, size_t *n)
{
    char                 line[PATH_MAX + 128], *curp, *pos, *file, *save;
    char                 path[PATH_MAX * 2];
    struct import_entry  e;
    size_t               cap = 0;
    unsigned             lineno = 0;
    char                *end;
    long                 p;

    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[strspn(line, " \t")] == '\0') {
            continue;
        }
        curp = strtok_r(line, "\t", &save);
        pos = strtok_r(NULL, "\t", &save);
        file = strtok_r(NULL, "\t", &save);
        p = pos ? strtol(pos, &end, 10) : -1;
        if (curp == NULL || pos == NULL || file == NULL || *end != '\0'
            || p < 0 || p > 10 || strlen(curp) >= sizeof(e.curp))
        {
            fprintf(stderr, "huellactl: %s/manifest.tsv:%u: expected "
                "CURP<TAB>POSITION(0-10)<TAB>FILE\n", dir, lineno);
            return -1;
        }
        memset(&e, 0, sizeof(e));
        snprintf(e.curp, sizeof(e.curp), "%s", curp);
        e.position = (unsigned) p;
        if (file[0] == '/') {
            snprintf(path, sizeof(path), "%s", file);
        } else {
            snprintf(path, sizeof(path), "%s/%s", dir, file);
        }
        e.file = strdup(path);
        if (e.file == NULL || add_entry(v, n, &cap, &e) != 0) {
            return -1;
        }
    }
    apply_subjects(dir, *v, *n);
    return 0;
}

static int
load_directory(const char *dir, struct import_entry **v, size_t *n)
{
    DIR                 *d = opendir(dir);
    struct dirent       *de;
    struct import_entry  e;
    char                 path[PATH_MAX * 2];
    size_t               cap = 0, i, len, base;

    if (d == NULL) {
        fprintf(stderr, "huellactl: import: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".iso") != 0) {
            continue;
        }
        memset(&e, 0, sizeof(e));
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snprintf(e.name, sizeof(e.name), "Synthetic %.200s", de->d_name);
        e.file = strdup(path);
        if (e.file == NULL || add_entry(v, n, &cap, &e) != 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    /* Sorted, so the same directory always gets the same CURPs; offset by
     * a hash of the directory's real path so that importing two different
     * directories does not reuse CURPs (186,000 files per directory before
     * the ranges of two directories could meet). */
    qsort(*v, *n, sizeof(**v), entry_cmp);
    base = 0;
    if (realpath(dir, path) != NULL) {
        uint32_t     h = 2166136261u;
        const char  *p;

        for (p = path; *p; p++) {
            h = (h ^ (uint8_t) *p) * 16777619u;
        }
        base = (size_t) (h % 1000u) * 186000u;
    }
    for (i = 0; i < *n; i++) {
        synthetic_curp(base + i, (*v)[i].curp);
    }
    return 0;
}

static void
report_rejects(struct import_job *job, const uint8_t *rep, size_t len,
    size_t first)
{
    struct hipc_reader  r;
    const uint8_t      *d;
    uint32_t            n;
    uint16_t            tag;
    unsigned            rec;

    hipc_reader_init(&r, rep, len);
    while (hipc_next(&r, &tag, &d, &n) == 1) {
        if (tag != HIPC_F_MESSAGE || job->shown >= 20) {
            continue;
        }
        job->shown++;
        if (sscanf((const char *) d, "record %u", &rec) == 1 && rec >= 1
            && first + rec - 1 < job->n)
        {
            fprintf(stderr, "  rejected %s: %.*s\n",
                job->entries[first + rec - 1].file, (int) n,
                (const char *) d);
        } else {
            fprintf(stderr, "  rejected: %.*s\n", (int) n,
                (const char *) d);
        }
    }
}

static void *
import_worker(void *arg)
{
    struct import_job   *job = arg;
    uint8_t             *req = malloc(HIPC_PAYLOAD_MAX);
    uint8_t             *rep = malloc(HIPC_PAYLOAD_MAX);
    uint8_t             *tmpl = malloc(HIPC_PAYLOAD_MAX);
    struct hipc_writer   w;
    struct import_entry *e;
    size_t               first, tlen, len, at;
    int                  status;
    uint64_t             local_rejected;

    if (req == NULL || rep == NULL || tmpl == NULL) {
        job->failed = 1;
        goto out;
    }
    for (;;) {
        local_rejected = 0;
        pthread_mutex_lock(&job->lock);
        if (job->failed || job->next >= job->n) {
            pthread_mutex_unlock(&job->lock);
            break;
        }
        first = job->next;
        hipc_writer_init(&w, req, CTL_BATCH_BYTES);
        while (job->next < job->n) {
            e = &job->entries[job->next];
            if (read_file(e->file, tmpl, HIPC_PAYLOAD_MAX - 1024, &tlen)
                != 0)
            {
                if (job->shown++ < 20) {
                    fprintf(stderr, "  rejected %s: %s\n", e->file,
                        strerror(errno));
                }
                local_rejected++;
                job->next++;
                continue;
            }
            /* Stop before the record that would not fit (the first one of
             * a batch always goes: a slot holds far more than one). */
            if (job->next > first
                && w.cap - w.len < tlen + strlen(e->name) + 160)
            {
                break;
            }
            at = hipc_open(&w, HIPC_F_RECORD);
            hipc_put_str(&w, HIPC_F_CURP, e->curp);
            hipc_put_u32(&w, HIPC_F_POSITION, e->position);
            hipc_put_u32(&w, HIPC_F_FORMAT, detect_format(tmpl, tlen));
            hipc_put(&w, HIPC_F_TEMPLATE, tmpl, tlen);
            if (e->name[0]) {
                hipc_put_str(&w, HIPC_F_NAME, e->name);
            }
            if (e->nss[0]) {
                hipc_put_str(&w, HIPC_F_NSS, e->nss);
            }
            hipc_close(&w, at);
            job->next++;
            if (w.overflow) {
                break;
            }
        }
        job->rejected += local_rejected;
        pthread_mutex_unlock(&job->lock);
        if (w.len == 0) {
            continue;
        }
        if (w.overflow) {
            fprintf(stderr, "huellactl: import: a template is too large for "
                "one message\n");
            job->failed = 1;
            break;
        }
        if (hipc_client_call(job->client, HIPC_OP_IMPORT_BATCH, req, w.len,
                rep, HIPC_PAYLOAD_MAX, &len, &status, CTL_SLOW_TIMEOUT_MS)
            != 0)
        {
            fprintf(stderr, "huellactl: import: %s\n", strerror(errno));
            job->failed = 1;
            break;
        }
        pthread_mutex_lock(&job->lock);
        if (status != HIPC_ST_OK) {
            print_error("import batch", status, rep, len);
            job->failed = 1;
        } else {
            job->imported += field_u64(rep, len, HIPC_F_IMPORTED);
            job->rejected += field_u64(rep, len, HIPC_F_REJECTED);
            report_rejects(job, rep, len, first);
        }
        pthread_mutex_unlock(&job->lock);
    }
out:
    free(req);
    free(rep);
    free(tmpl);
    return NULL;
}

static void
free_entries(struct import_job *job)
{
    size_t  i;

    for (i = 0; i < job->n; i++) {
        free(job->entries[i].file);
    }
    free(job->entries);
    job->entries = NULL;
    job->n = 0;
}

int
ctl_import(int argc, char **argv)
{
    const char          *sock = ctl_socket(&argc, argv);
    struct import_job    job = { 0 };
    pthread_t            t[CTL_IMPORT_THREADS];
    char                 path[PATH_MAX];
    FILE                *mf;
    size_t               i;
    unsigned             nt = 0;
    double               t0, el;
    int                  rc;

    if (argc != 2) {
        fprintf(stderr, "usage: huellactl import [--socket PATH] DIR\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/manifest.tsv", argv[1]);
    mf = fopen(path, "r");
    if (mf) {
        rc = load_manifest(argv[1], mf, &job.entries, &job.n);
        fclose(mf);
    } else if (errno == ENOENT || errno == ENOTDIR) {
        rc = load_directory(argv[1], &job.entries, &job.n);
    } else {
        /* A manifest that exists but cannot be read must not turn into
         * "every .iso as a synthetic subject". */
        fprintf(stderr, "huellactl: import: %s: %s\n", path,
            strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        free_entries(&job);
        return 2;
    }
    if (job.n == 0) {
        fprintf(stderr, "huellactl: import: nothing to import in %s (no "
            "manifest.tsv, no *.iso)\n", argv[1]);
        free_entries(&job);
        return 1;
    }
    if ((job.client = ctl_connect(sock)) == NULL) {
        free_entries(&job);
        return 1;
    }
    pthread_mutex_init(&job.lock, NULL);
    t0 = now_s();
    for (i = 0; i < CTL_IMPORT_THREADS; i++) {
        if (pthread_create(&t[nt], NULL, import_worker, &job) == 0) {
            nt++;
        }
    }
    for (i = 0; i < nt; i++) {
        pthread_join(t[i], NULL);
    }
    el = now_s() - t0;
    printf("imported %llu, rejected %llu of %zu templates in %.2f s "
        "(%.0f templates/s)%s\n", (unsigned long long) job.imported,
        (unsigned long long) job.rejected, job.n, el,
        el > 0 ? (double) job.imported / el : 0.0,
        job.failed ? "; stopped early on an error" : "");
    hipc_client_close(job.client);
    pthread_mutex_destroy(&job.lock);
    free_entries(&job);
    return job.failed ? 1 : job.rejected ? 3 : 0;
}
