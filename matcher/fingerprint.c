/*
 * fingerprint.c -- strict parsers for finger minutiae records.
 *
 * Owns: decoding ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 records
 * into struct hm_fingerprint.  Both formats share the per-view layout
 * (position, view/impression, quality, count, 6-byte minutiae, extended
 * data block); they differ in the general header:
 *
 *   ISO 19794-2:2005 (24 bytes)          ANSI 378-2004 (26 or 30 bytes)
 *   'FMR\0' ' 20\0'                      'FMR\0' ' 20\0'
 *   record length       4                record length 2 (or 0 + 4)
 *                                        CBEFF product id 4
 *   capture equipment   2                capture equipment 2
 *   width, height       2+2              width, height 2+2
 *   x/y resolution      2+2 (px/cm)      x/y resolution 2+2 (px/cm)
 *   finger views        1                finger views 1
 *   reserved            1                reserved 1
 *
 * and in the minutia angle unit: ISO 360/256 degrees (0..255), ANSI 2
 * degrees (0..179).  Nothing is trusted: every length is checked against
 * the buffer before it is read, the record must fill the buffer exactly,
 * and each out-of-range field is refused with a reason naming it.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fingerprint.h"

#define ISO_HEADER_LEN       24
#define ANSI_HEADER_LEN      26   /* with the 2-byte record length */
#define ANSI_LONG_EXTRA       4   /* the 4 more bytes of a long length */
#define VIEW_HEADER_LEN       4
#define MINUTIA_LEN           6
#define EXT_LENGTH_LEN        2
#define EXT_AREA_HEADER_LEN   4

enum record_format { FORMAT_ISO = 1, FORMAT_ANSI = 2 };

struct reader {
    const uint8_t  *buf;
    size_t          len;
    size_t          pos;
};

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint32_t
be16(const uint8_t *p)
{
    return (uint32_t) p[0] << 8 | p[1];
}

static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
        | (uint32_t) p[2] << 8 | p[3];
}

static const char *
format_name(enum record_format format)
{
    return format == FORMAT_ISO ? "ISO 19794-2" : "ANSI 378";
}

/* Impression types of both standards: live-scan plain/rolled, non-live
 * plain/rolled, and (ANSI 378, ISO 19794-2) swipe = 8. */
static int
impression_valid(unsigned impression)
{
    return impression <= 3 || impression == 8;
}

/*
 * The extended data block after each view: a 2-byte total length, then
 * areas of (type 2, length 2, data), where an area's length counts its
 * own 4-byte header.  Areas must tile the block exactly.
 */
static int
parse_extended_data(struct reader *r, unsigned view, char *err,
    size_t errlen)
{
    size_t  block_len, area_pos, area_len;

    if (r->len - r->pos < EXT_LENGTH_LEN) {
        return fail(err, errlen, "view %u: extended data length at offset "
            "%zu needs 2 bytes but only %zu remain", view, r->pos,
            r->len - r->pos);
    }
    block_len = be16(r->buf + r->pos);
    r->pos += EXT_LENGTH_LEN;
    if (block_len > r->len - r->pos) {
        return fail(err, errlen, "view %u: extended data block of %zu bytes "
            "at offset %zu but only %zu remain", view, block_len, r->pos,
            r->len - r->pos);
    }
    area_pos = 0;
    while (area_pos < block_len) {
        const uint8_t  *area = r->buf + r->pos + area_pos;

        if (block_len - area_pos < EXT_AREA_HEADER_LEN) {
            return fail(err, errlen, "view %u: extended data area at offset "
                "%zu is cut short (%zu of 4 header bytes)", view,
                r->pos + area_pos, block_len - area_pos);
        }
        area_len = be16(area + 2);
        if (area_len < EXT_AREA_HEADER_LEN
            || area_len > block_len - area_pos)
        {
            return fail(err, errlen, "view %u: extended data area type "
                "0x%04x at offset %zu claims %zu bytes but the block has "
                "%zu left", view, (unsigned) be16(area), r->pos + area_pos,
                area_len, block_len - area_pos);
        }
        area_pos += area_len;
    }
    r->pos += block_len;
    return 0;
}

static int
parse_view(struct reader *r, enum record_format format, unsigned view,
    struct hm_fingerprint *fp, int keep, char *err, size_t errlen)
{
    const uint8_t  *p;
    unsigned        position, view_number, impression, quality, count, i;

    if (r->len - r->pos < VIEW_HEADER_LEN) {
        return fail(err, errlen, "view %u: header at offset %zu needs 4 "
            "bytes but only %zu remain", view, r->pos, r->len - r->pos);
    }
    p = r->buf + r->pos;
    position = p[0];
    view_number = p[1] >> 4;
    impression = p[1] & 0x0f;
    quality = p[2];
    count = p[3];
    if (position > 10) {
        return fail(err, errlen, "view %u: finger position %u out of range "
            "0..10", view, position);
    }
    if (!impression_valid(impression)) {
        return fail(err, errlen, "view %u: impression type %u is not one of "
            "0..3 or 8", view, impression);
    }
    if (quality > 100) {
        return fail(err, errlen, "view %u: finger quality %u out of range "
            "0..100", view, quality);
    }
    r->pos += VIEW_HEADER_LEN;
    if ((size_t) count * MINUTIA_LEN > r->len - r->pos) {
        return fail(err, errlen, "view %u: %u minutiae need %u bytes at "
            "offset %zu but only %zu remain", view, count,
            count * MINUTIA_LEN, r->pos, r->len - r->pos);
    }
    if (keep) {
        fp->position = (uint8_t) position;
        fp->impression = (uint8_t) impression;
        fp->finger_quality = (uint8_t) quality;
        fp->count = (uint16_t) count;
    }
    (void) view_number;

    for (i = 0; i < count; i++) {
        unsigned  type, x, y, angle, mquality;

        p = r->buf + r->pos;
        type = p[0] >> 6;
        x = be16(p) & 0x3fff;
        y = be16(p + 2) & 0x3fff;
        angle = p[4];
        mquality = p[5];
        if (type == 3) {
            return fail(err, errlen, "view %u minutia %u: type bits 11 are "
                "reserved", view, i);
        }
        if ((p[2] >> 6) != 0) {
            return fail(err, errlen, "view %u minutia %u: reserved bits "
                "before y are not zero", view, i);
        }
        if (x >= fp->width) {
            return fail(err, errlen, "view %u minutia %u: x %u outside the "
                "image width %u", view, i, x, fp->width);
        }
        if (y >= fp->height) {
            return fail(err, errlen, "view %u minutia %u: y %u outside the "
                "image height %u", view, i, y, fp->height);
        }
        if (format == FORMAT_ANSI && angle > 179) {
            return fail(err, errlen, "view %u minutia %u: angle %u out of "
                "range 0..179 (2-degree units)", view, i, angle);
        }
        if (mquality > 100) {
            return fail(err, errlen, "view %u minutia %u: quality %u out of "
                "range 0..100", view, i, mquality);
        }
        if (keep) {
            struct hm_minutia  *m = &fp->m[i];

            m->x = (uint16_t) x;
            m->y = (uint16_t) y;
            /* Both types' bit codes equal enum hm_minutia_type. */
            m->type = (uint8_t) type;
            m->quality = (uint8_t) mquality;
            m->angle = format == FORMAT_ISO ? (uint8_t) angle
                : (uint8_t) ((angle * 256 + 90) / 180 & 0xff);
        }
        r->pos += MINUTIA_LEN;
    }
    return parse_extended_data(r, view, err, errlen);
}

/*
 * Both standards open with "FMR\0 20\0" and differ first in the record
 * length field (ISO 4 bytes; ANSI 2, or 0 then 4).  When the declared
 * format's length is wrong but the other's fits the buffer exactly, the
 * caller most likely named the wrong format: say so instead of quoting a
 * meaningless length.
 */
static int
other_format_fits(enum record_format format, const uint8_t *buf,
    size_t len)
{
    if (format == FORMAT_ISO) {
        return len >= 10 && (be16(buf + 8) == len
            || (be16(buf + 8) == 0 && len >= 14 && be32(buf + 10) == len));
    }
    return len >= 12 && be32(buf + 8) == len;
}

static int
parse_record(enum record_format format, const uint8_t *buf, size_t len,
    struct hm_fingerprint *fp, char *err, size_t errlen)
{
    struct reader  r;
    const uint8_t *p;
    size_t         record_len, header_len;
    unsigned       views, v;

    if (buf == NULL || fp == NULL) {
        return fail(err, errlen, "no record");
    }
    memset(fp, 0, sizeof(*fp));
    header_len = format == FORMAT_ISO ? ISO_HEADER_LEN : ANSI_HEADER_LEN;
    if (len < 8) {
        return fail(err, errlen, "%s record of %zu bytes is shorter than "
            "its 8-byte identifier", format_name(format), len);
    }
    if (memcmp(buf, "FMR\0", 4) != 0) {
        return fail(err, errlen, "format identifier is not 'FMR\\0'");
    }
    if (memcmp(buf + 4, " 20\0", 4) != 0) {
        return fail(err, errlen, "version is not ' 20\\0' (only %s:%s is "
            "supported)", format_name(format),
            format == FORMAT_ISO ? "2005" : "2004");
    }

    if (format == FORMAT_ISO) {
        if (len < 12) {
            return fail(err, errlen, "record length field needs 4 bytes "
                "but buffer has %zu bytes", len);
        }
        record_len = be32(buf + 8);
        p = buf + 12;
    } else {
        if (len < 10) {
            return fail(err, errlen, "record length field needs 2 bytes "
                "but buffer has %zu bytes", len);
        }
        record_len = be16(buf + 8);
        p = buf + 10;
        if (record_len == 0) {
            /* Long form: 0x0000 then 4 bytes, for records over 65535. */
            if (len < 14) {
                return fail(err, errlen, "long record length field needs 6 "
                    "bytes but buffer has %zu bytes", len);
            }
            record_len = be32(buf + 10);
            header_len += ANSI_LONG_EXTRA;
            p = buf + 14;
            if (record_len <= 0xffff) {
                return fail(err, errlen, "long-form record length %zu "
                    "would fit the short form", record_len);
            }
        }
    }
    if (record_len != len) {
        return fail(err, errlen, "record length %zu in header but buffer has "
            "%zu bytes%s", record_len, len, other_format_fits(format, buf, len)
            ? format == FORMAT_ISO
              ? ": this is an ANSI 378 record, not ISO 19794-2"
              : ": this is an ISO 19794-2 record, not ANSI 378"
            : "");
    }
    if (len < header_len) {
        return fail(err, errlen, "record of %zu bytes is shorter than the "
            "%zu-byte header", len, header_len);
    }
    if (format == FORMAT_ANSI) {
        p += 4;     /* CBEFF product identifier: owner and type, any value */
    }
    p += 2;         /* capture equipment: compliance and id, any value */
    fp->width = (uint16_t) be16(p);
    fp->height = (uint16_t) be16(p + 2);
    fp->res_x = (uint16_t) be16(p + 4);
    fp->res_y = (uint16_t) be16(p + 6);
    views = p[8];
    if (fp->width == 0 || fp->height == 0) {
        return fail(err, errlen, "image size %ux%u has a zero side",
            fp->width, fp->height);
    }
    if (fp->width > 0x3fff || fp->height > 0x3fff) {
        return fail(err, errlen, "image size %ux%u exceeds 16383, the "
            "largest minutia coordinate", fp->width, fp->height);
    }
    if (fp->res_x == 0 || fp->res_y == 0) {
        return fail(err, errlen, "resolution %ux%u px/cm has a zero side",
            fp->res_x, fp->res_y);
    }
    if (views == 0) {
        return fail(err, errlen, "record holds no finger view");
    }
    if (p[9] != 0) {
        return fail(err, errlen, "reserved header byte is %u, not 0", p[9]);
    }

    r.buf = buf;
    r.len = len;
    r.pos = header_len;
    for (v = 0; v < views; v++) {
        if (parse_view(&r, format, v, fp, v == 0, err, errlen) != 0) {
            return -1;
        }
    }
    if (r.pos != len) {
        return fail(err, errlen, "%zu bytes left over after %u finger "
            "view(s) of a %zu-byte record", len - r.pos, views, len);
    }
    return 0;
}

int
hm_parse_iso19794_2(const uint8_t *buf, size_t len,
    struct hm_fingerprint *fp, char *err, size_t errlen)
{
    return parse_record(FORMAT_ISO, buf, len, fp, err, errlen);
}

int
hm_parse_ansi378(const uint8_t *buf, size_t len, struct hm_fingerprint *fp,
    char *err, size_t errlen)
{
    return parse_record(FORMAT_ANSI, buf, len, fp, err, errlen);
}

int
hm_parse(int format, const uint8_t *buf, size_t len,
    struct hm_fingerprint *fp, char *err, size_t errlen)
{
    switch (format) {
    case FORMAT_ISO:
        return hm_parse_iso19794_2(buf, len, fp, err, errlen);
    case FORMAT_ANSI:
        return hm_parse_ansi378(buf, len, fp, err, errlen);
    default:
        return fail(err, errlen, "unknown template format %d", format);
    }
}
