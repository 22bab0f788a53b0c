/*
 * ctl_efirma.c -- `huellactl efirma-sign` and `huellactl efirma-inspect`,
 * offline.
 *
 * Owns the command-line side of e.firma for scripts and operators:
 * signing a login challenge with a .cer/.key pair (the same thing the
 * portal's login page does in the browser, so the key and its password
 * stay on the machine that runs this) and showing what a .cer says.
 * Both print one line of JSON, the shapes the HTTP API uses.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl.h"
#include "efirma.h"

#define CTL_FILE_MAX  (1024 * 1024)

static int
slurp(const char *cmd, const char *path, unsigned char **data, size_t *len)
{
    FILE           *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    unsigned char  *buf;
    size_t          n;

    if (f == NULL) {
        fprintf(stderr, "huellactl %s: %s: %s\n", cmd, path, strerror(errno));
        return -1;
    }
    buf = malloc(CTL_FILE_MAX + 1);
    n = buf != NULL ? fread(buf, 1, CTL_FILE_MAX + 1, f) : 0;
    if (buf == NULL || ferror(f) || n > CTL_FILE_MAX) {
        fprintf(stderr, "huellactl %s: %s: %s\n", cmd, path,
                buf == NULL ? "out of memory"
                : n > CTL_FILE_MAX ? "larger than 1 MiB" : "read error");
        if (f != stdin) fclose(f);
        free(buf);
        return -1;
    }
    if (f != stdin) {
        fclose(f);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

/*
 * A .cer is DER; accept PEM too and hand back the DER inside as it is, so
 * that efirma's strict reader judges it; a PEM that does not decode says
 * why (bad base64, no END line...) instead of just "unreadable".
 */
static int
cer_der(const char *cmd, const char *path, unsigned char **der, size_t *len)
{
    unsigned char  *raw, *data = NULL;
    size_t          n;
    BIO            *bio;
    char           *name = NULL, *header = NULL;
    long            dn = 0;
    unsigned long   e;
    int             found = 0;

    if (slurp(cmd, path, &raw, &n) != 0) {
        return -1;
    }
    if (strstr((char *) raw, "-----BEGIN CERTIFICATE-----") == NULL) {
        *der = raw;
        *len = n;
        return 0;
    }
    ERR_clear_error();
    bio = BIO_new_mem_buf(raw, (int) n);
    while (bio != NULL && PEM_read_bio(bio, &name, &header, &data, &dn)) {
        found = strcmp(name, "CERTIFICATE") == 0;
        OPENSSL_free(name);
        OPENSSL_free(header);
        if (found) {
            break;
        }
        OPENSSL_free(data);
        data = NULL;
    }
    e = ERR_peek_last_error();
    BIO_free(bio);
    free(raw);
    if (!found) {
        fprintf(stderr, "huellactl %s: %s: unreadable PEM certificate: "
                "%s\n", cmd, path, e != 0 && ERR_reason_error_string(e)
                ? ERR_reason_error_string(e) : "no CERTIFICATE block");
        ERR_clear_error();
        return -1;
    }
    ERR_clear_error();
    *der = malloc(dn > 0 ? (size_t) dn : 1);
    if (*der == NULL) {
        OPENSSL_free(data);
        return -1;
    }
    memcpy(*der, data, (size_t) dn);
    OPENSSL_free(data);
    *len = (size_t) dn;
    return 0;
}

static char *
base64(const unsigned char *data, size_t len)
{
    char  *out = malloc(4 * ((len + 2) / 3) + 1);

    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *) out, data, (int) len);
    }
    return out;
}

static int
print_json(json_t *obj)
{
    char  *s = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

    json_decref(obj);
    if (s == NULL) {
        fprintf(stderr, "huellactl: cannot write JSON\n");
        return 1;
    }
    puts(s);
    free(s);
    return 0;
}

static void
sign_usage(void)
{
    fprintf(stderr,
            "usage: huellactl efirma-sign --cer FILE.cer --key FILE.key "
            "--password-file FILE|- --nonce NONCE\n"
            "  Signs NONCE (RSA PKCS#1 v1.5, SHA-256) with the e.firma key\n"
            "  and prints the body for POST /api/v1/session/efirma.\n"
            "  The password file's one trailing newline is ignored.\n");
}

int
ctl_efirma_sign(int argc, char **argv)
{
    const char          *cer = NULL, *key = NULL, *pwfile = NULL;
    const char          *nonce = NULL;
    unsigned char       *cd = NULL, *kd = NULL, *pw = NULL;
    unsigned char        sig[EFIRMA_SIG_MAX];
    size_t               cn = 0, kn = 0, pn = 0, sl = 0, i;
    char                 err[512], *cb = NULL, *sb = NULL;
    enum efirma_status   st;
    int                  rc = 1;

    for (i = 1; i < (size_t) argc; i++) {
        const char **slot = strcmp(argv[i], "--cer") == 0 ? &cer
                          : strcmp(argv[i], "--key") == 0 ? &key
                          : strcmp(argv[i], "--password-file") == 0 ? &pwfile
                          : strcmp(argv[i], "--nonce") == 0 ? &nonce : NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            sign_usage();
            return 0;
        }
        if (slot == NULL || i + 1 >= (size_t) argc) {
            fprintf(stderr, "huellactl efirma-sign: unexpected '%s'\n",
                    argv[i]);
            sign_usage();
            return 2;
        }
        *slot = argv[++i];
    }
    if (cer == NULL || key == NULL || pwfile == NULL || nonce == NULL) {
        sign_usage();
        return 2;
    }
    for (i = 0; nonce[i] != '\0'; i++) {
        if ((unsigned char) nonce[i] < 0x21 || (unsigned char) nonce[i] > 0x7e)
        {
            fprintf(stderr, "huellactl efirma-sign: the nonce must be "
                    "printable ASCII without spaces\n");
            return 2;
        }
    }
    if (cer_der("efirma-sign", cer, &cd, &cn) != 0
        || slurp("efirma-sign", key, &kd, &kn) != 0
        || slurp("efirma-sign", pwfile, &pw, &pn) != 0)
    {
        goto done;
    }
    if (pn > 0 && pw[pn - 1] == '\n') pn--;
    if (pn > 0 && pw[pn - 1] == '\r') pn--;
    st = efirma_sign(kd, kn, (const char *) pw, pn, cd, cn,
                     (const unsigned char *) nonce, strlen(nonce), sig,
                     sizeof(sig), &sl, err, sizeof(err));
    if (st != EFIRMA_OK) {
        fprintf(stderr, "huellactl efirma-sign: %s (%s)\n", err,
                efirma_status_code(st));
        goto done;
    }
    cb = base64(cd, cn);
    sb = base64(sig, sl);
    if (cb != NULL && sb != NULL) {
        rc = print_json(json_pack("{s:s, s:s, s:s}", "certificate", cb,
                                  "signature", sb, "nonce", nonce));
    }

done:
    if (pw != NULL) {
        OPENSSL_cleanse(pw, pn);
    }
    if (kd != NULL) {
        OPENSSL_cleanse(kd, kn);
    }
    free(pw);
    free(kd);
    free(cd);
    free(cb);
    free(sb);
    return rc;
}

int
ctl_efirma_inspect(int argc, char **argv)
{
    struct efirma_info   info;
    unsigned char       *der;
    size_t               n;
    char                 err[512];
    enum efirma_status   st;

    if (argc != 2 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "--help") == 0)
    {
        fprintf(stderr, "usage: huellactl efirma-inspect FILE.cer\n"
                "  Prints what an e.firma certificate says (DER or PEM).\n");
        return argc == 2 ? 0 : 2;
    }
    if (cer_der("efirma-inspect", argv[1], &der, &n) != 0) {
        return 1;
    }
    st = efirma_inspect(der, n, time(NULL), &info, err, sizeof(err));
    free(der);
    if (st != EFIRMA_OK) {
        fprintf(stderr, "huellactl efirma-inspect: %s: %s (%s)\n", argv[1],
                err, efirma_status_code(st));
        return 1;
    }
    return print_json(json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}",
        "rfc", info.rfc,
        "representative_rfc", info.representative_rfc,
        "curp", info.curp,
        "name", info.name,
        "serial", info.serial,
        "certificate_number", info.certificate_number,
        "not_before", info.not_before,
        "not_after", info.not_after,
        "expired", info.expired,
        "issuer", info.issuer,
        "type", info.is_seal ? "csd" : "efirma"));
}
