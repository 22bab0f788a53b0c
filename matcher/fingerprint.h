/*
 * fingerprint.h -- minutiae templates: the decoded form and the strict
 * parsers for ISO/IEC 19794-2:2005 and ANSI INCITS 378-2004 records.
 *
 * Owns: struct hm_fingerprint (one finger view, coordinates in pixels,
 * angles in the standard's 1.40625-degree units) and the parsers that fill
 * it.  Every length field is checked against the buffer; anything out of
 * range is an error with a precise, human-readable reason, never a crash.
 */

#ifndef HUELLA_FINGERPRINT_H
#define HUELLA_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#define HM_MAX_MINUTIAE  255

enum hm_minutia_type {
    HM_MINUTIA_OTHER = 0,
    HM_MINUTIA_ENDING = 1,
    HM_MINUTIA_BIFURCATION = 2
};

struct hm_minutia {
    uint16_t  x;            /* pixels */
    uint16_t  y;            /* pixels */
    uint8_t   angle;        /* units of 360/256 degrees, counter-clockwise */
    uint8_t   type;         /* enum hm_minutia_type */
    uint8_t   quality;      /* 0..100, 0 = not reported */
};

struct hm_fingerprint {
    uint16_t           width;           /* image size, pixels */
    uint16_t           height;
    uint16_t           res_x;           /* pixels per cm */
    uint16_t           res_y;
    uint8_t            position;        /* 0..10 */
    uint8_t            impression;
    uint8_t            finger_quality;  /* 0..100 */
    uint16_t           count;           /* minutiae in m[] */
    struct hm_minutia  m[HM_MAX_MINUTIAE];
};

/* Each returns 0 on success, -1 with a reason in err on malformed input.
 * A record with several finger views yields the first one. */
int hm_parse_iso19794_2(const uint8_t *buf, size_t len,
    struct hm_fingerprint *fp, char *err, size_t errlen);
int hm_parse_ansi378(const uint8_t *buf, size_t len,
    struct hm_fingerprint *fp, char *err, size_t errlen);

/* format: 1 = ISO 19794-2:2005, 2 = ANSI 378-2004 (enum hipc_format). */
int hm_parse(int format, const uint8_t *buf, size_t len,
    struct hm_fingerprint *fp, char *err, size_t errlen);

#endif /* HUELLA_FINGERPRINT_H */
