/*
 * mail.c -- recovery mail: RFC 5322 composition, the outbox and a minimal
 * SMTP client (see mail.h).
 */

#include "mail.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* RFC 2047 B-encoding when the text is not plain ASCII. */
static void
header_text(const char *s, char *out, size_t cap)
{
    const unsigned char  *p;
    int                   ascii = 1;

    for (p = (const unsigned char *) s; *p; p++) {
        if (*p >= 0x80 || *p < 0x20) {
            ascii = 0;
        }
    }
    if (ascii || cap < 16 || strlen(s) * 4 / 3 + 16 > cap) {
        snprintf(out, cap, "%s", s);
        return;
    }
    memcpy(out, "=?UTF-8?B?", 10);
    EVP_EncodeBlock((unsigned char *) out + 10, (const unsigned char *) s,
        (int) strlen(s));
    strcat(out, "?=");
}

void
mail_address(const char *from, char *out, size_t cap)
{
    const char  *lt = strchr(from, '<'), *gt;

    if (lt && (gt = strchr(lt, '>')) != NULL) {
        snprintf(out, cap, "%.*s", (int) (gt - lt - 1), lt + 1);
    } else {
        snprintf(out, cap, "%s", from);
    }
}

char *
mail_compose(const char *from, const char *to, const char *subject,
    const char *body)
{
    char        date[64], subj[512], id[40], host[128];
    uint8_t     rnd[12];
    time_t      now = time(NULL);
    struct tm   tm;
    size_t      cap = strlen(body) + 2048, i;
    char       *msg = malloc(cap);
    const char *at;

    if (msg == NULL) {
        return NULL;
    }
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    header_text(subject, subj, sizeof(subj));
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
        memset(rnd, 0, sizeof(rnd));
    }
    for (i = 0; i < sizeof(rnd); i++) {
        snprintf(id + i * 2, 3, "%02x", rnd[i]);
    }
    mail_address(from, host, sizeof(host));
    at = strchr(host, '@');
    snprintf(msg, cap,
        "From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\n"
        "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n",
        from, to, subj, date, id, at ? at + 1 : "huella.localhost");
    /* body lines end in CRLF */
    for (i = strlen(msg); *body && i + 3 < cap; body++) {
        if (*body == '\n') {
            msg[i++] = '\r';
        }
        msg[i++] = *body;
    }
    msg[i] = '\0';
    return msg;
}

int
mail_outbox_write(const char *dir, const char *msg, char *path_out,
    size_t path_cap, char *err, size_t errlen)
{
    char      tmp[4200], final[4200];
    uint32_t  rnd = 0;
    size_t    len = strlen(msg);
    ssize_t   n;
    int       fd;

    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
        rnd = (uint32_t) getpid();
    }
    snprintf(final, sizeof(final), "%s/%lld-%08x.eml", dir,
        (long long) time(NULL), rnd);
    snprintf(tmp, sizeof(tmp), "%s/.%lld-%08x.tmp", dir,
        (long long) time(NULL), rnd);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    n = write(fd, msg, len);
    if (n != (ssize_t) len || close(fd) != 0 || rename(tmp, final) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (path_out) {
        snprintf(path_out, path_cap, "%s", final);
    }
    return 0;
}

/* ---- SMTP ----------------------------------------------------------------- */

/* Reads one (possibly multi-line) reply; returns its code or -1. */
static int
smtp_reply(int fd, char *buf, size_t cap)
{
    size_t  len = 0;
    char   *line;
    ssize_t n;

    for (;;) {
        struct pollfd  p = { fd, POLLIN, 0 };

        if (len + 1 >= cap || poll(&p, 1, MAIL_TIMEOUT_MS) != 1) {
            return -1;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0) {
            return -1;
        }
        len += (size_t) n;
        buf[len] = '\0';
        /* the last line is "NNN text\r\n" (a space after the code) */
        line = buf;
        for (;;) {
            char  *eol = strstr(line, "\r\n");

            if (eol == NULL) {
                break;
            }
            if (eol - line >= 3 && (line[3] == ' ' || eol - line == 3)) {
                return atoi(line);
            }
            line = eol + 2;
        }
    }
}

static int
smtp_send_all(int fd, const char *s, size_t len)
{
    ssize_t  n;

    while (len) {
        struct pollfd  p = { fd, POLLOUT, 0 };

        if (poll(&p, 1, MAIL_TIMEOUT_MS) != 1) {
            return -1;
        }
        n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return -1;
        }
        s += n;
        len -= (size_t) n;
    }
    return 0;
}

static int
smtp_step(int fd, const char *cmd, int want, const char *step, char *err,
    size_t errlen)
{
    char  buf[2048];
    int   code;

    if (cmd && smtp_send_all(fd, cmd, strlen(cmd)) != 0) {
        snprintf(err, errlen, "SMTP %s: cannot send", step);
        return -1;
    }
    code = smtp_reply(fd, buf, sizeof(buf));
    if (code / 100 != want / 100) {
        snprintf(err, errlen, "SMTP %s: %s", step,
            code < 0 ? "no reply (timeout or closed)" : buf);
        return -1;
    }
    return 0;
}

static int
smtp_connect(const char *host, unsigned port, char *err, size_t errlen)
{
    struct addrinfo   hints, *res, *ai;
    char              portstr[8];
    int               fd = -1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof(portstr), "%u", port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "SMTP %s: %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        struct pollfd  p;
        int            so = 0;
        socklen_t      sl = sizeof(so);

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK
            | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        p.fd = fd;
        p.events = POLLOUT;
        if (errno == EINPROGRESS && poll(&p, 1, MAIL_TIMEOUT_MS) == 1
            && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) == 0
            && so == 0)
        {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "SMTP: cannot connect to %s:%u", host, port);
    }
    return fd;
}

int
mail_smtp_send(const char *host, unsigned port, const char *from,
    const char *to, const char *msg, char *err, size_t errlen)
{
    char         cmd[600], addr[300];
    const char  *p, *line;
    size_t       len;
    int          fd, rc = -1;

    fd = smtp_connect(host, port, err, errlen);
    if (fd < 0) {
        return -1;
    }
    mail_address(from, addr, sizeof(addr));
    if (smtp_step(fd, NULL, 220, "greeting", err, errlen) != 0
        || smtp_step(fd, "EHLO huella.localhost\r\n", 250, "EHLO", err,
               errlen) != 0)
    {
        goto done;
    }
    snprintf(cmd, sizeof(cmd), "MAIL FROM:<%s>\r\n", addr);
    if (smtp_step(fd, cmd, 250, "MAIL FROM", err, errlen) != 0) {
        goto done;
    }
    snprintf(cmd, sizeof(cmd), "RCPT TO:<%s>\r\n", to);
    if (smtp_step(fd, cmd, 250, "RCPT TO", err, errlen) != 0
        || smtp_step(fd, "DATA\r\n", 354, "DATA", err, errlen) != 0)
    {
        goto done;
    }
    /* dot-stuffing: a line starting with '.' gets another '.' */
    for (line = msg; *line; line = p) {
        p = strstr(line, "\r\n");
        p = p ? p + 2 : line + strlen(line);
        len = (size_t) (p - line);
        if ((line[0] == '.' && smtp_send_all(fd, ".", 1) != 0)
            || smtp_send_all(fd, line, len) != 0)
        {
            snprintf(err, errlen, "SMTP DATA: cannot send");
            goto done;
        }
    }
    len = strlen(msg);
    if (smtp_step(fd, len >= 2 && strcmp(msg + len - 2, "\r\n") == 0
            ? ".\r\n" : "\r\n.\r\n", 250, "end of DATA", err, errlen) != 0)
    {
        goto done;
    }
    smtp_step(fd, "QUIT\r\n", 221, "QUIT", err, errlen);
    rc = 0;
done:
    close(fd);
    return rc;
}
