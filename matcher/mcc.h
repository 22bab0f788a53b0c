/*
 * mcc.h -- internals shared by the Minutia Cylinder-Code files: the
 * algorithm's parameters and the little-endian stored template layout.
 * Not a public header: callers use match.h.
 *
 * Stored template (all integers little-endian, no alignment assumed):
 *
 *   offset 0   struct mcc_header (16 bytes)
 *   offset 16  cylinders[header.cylinders], MCC_CYL_BYTES each:
 *                int16 x, int16 y      normalised to 500 dpi, y upwards,
 *                                      in 1/4 pixel
 *                uint8 angle           360/256 degree units, CCW
 *                uint8 minutia index   in the source template
 *                uint8 type, uint8 reserved
 *                uint64 valid[MCC_WORDS]          cell validity, one layer
 *                uint64 bits[MCC_ND][MCC_WORDS]   cylinder bits per layer
 *   then       minutiae[header.minutiae] of 8 bytes, the same leading
 *              fields as a cylinder, for every minutia (valid cylinder or
 *              not): the relaxation step needs only the cylinder ones, the
 *              others are kept for re-encoding and audits.
 *   then       neighbours[header.cylinders], MCC_NB_BYTES each, in the
 *              cylinders' order: the K-nearest-neighbour descriptor of
 *              the cylinder's minutia (neighbours.h; version 2 on).
 *
 * The cylinder record is the unit the comparison streams through, so it
 * comes first and is fixed-size: compare() indexes it directly from the
 * memory map with no decoding.
 */

#ifndef HUELLA_MCC_H
#define HUELLA_MCC_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fingerprint.h"

/* Cylinder geometry: Ns x Ns spatial cells, Nd angular layers. */
#define MCC_NS            8
#define MCC_ND            6
#define MCC_WORDS         ((MCC_NS * MCC_NS + 63) / 64)
#define MCC_CYL_BYTES     (8 + 8 * MCC_WORDS * (1 + MCC_ND))

/* Two cylinders are compared only where at least this share of the disk
 * cells is valid in both (the paper's min_ME); the encoder keeps every
 * cylinder that can reach it (its min_VC). */
#define MCC_MIN_MATCHABLE 0.60

#define MCC_MAGIC0        'H'
#define MCC_MAGIC1        'M'
#define MCC_VERSION       2   /* 2: neighbour records added */
#define MCC_HEADER_BYTES  16
#define MCC_MINUTIA_BYTES 8
#define MCC_NB_BYTES      18  /* NB_BYTES of neighbours.h */

/* Coordinates are stored in 1/4 pixel at 500 dpi (197 px/cm). */
#define MCC_COORD_SCALE   4.0
#define MCC_REF_RES       197.0

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

struct mcc_header {
    uint8_t   magic[2];
    uint8_t   version;
    uint8_t   geometry;     /* (MCC_NS / 4) << 4 | MCC_ND: refuses foreign forms */
    uint16_t  minutiae;
    uint16_t  cylinders;
    uint8_t   quality;
    uint8_t   reserved[3];
    uint32_t  length;       /* whole template, bytes */
};

/* A minutia in matcher coordinates, as decoded from a stored record. */
struct mcc_point {
    float     x, y;         /* pixels at 500 dpi, y upwards */
    float     angle;        /* radians, CCW, 0..2pi */
    uint8_t   angle_units;  /* the same, 360/256 degree units */
    uint8_t   type;         /* enum hm_minutia_type */
};

static inline uint16_t
mcc_le16(const uint8_t *p)
{
    return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t
mcc_le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
        | (uint32_t) p[3] << 24;
}

static inline uint64_t
mcc_load64(const uint8_t *p)
{
    uint64_t  v;

    memcpy(&v, p, sizeof(v));   /* unaligned-safe; x86 and arm64 are LE */
    return v;
}

static inline void
mcc_point_decode(const uint8_t *rec, struct mcc_point *pt)
{
    pt->x = (float) ((int16_t) mcc_le16(rec) / MCC_COORD_SCALE);
    pt->y = (float) ((int16_t) mcc_le16(rec + 2) / MCC_COORD_SCALE);
    pt->angle_units = rec[4];
    pt->angle = (float) (rec[4] * (2.0 * M_PI / 256.0));
    pt->type = rec[6];
}

/* Cells of one layer inside the cylinder's radius (the cells that can
 * ever be valid). */
int mcc_disk_cells(void);

/* Parses and validates the header; 0 or -1. */
int mcc_header_read(const uint8_t *stored, size_t len,
    struct mcc_header *h);

/* Builds the cylinders of fp into out (capacity cap); the byte count or -1
 * with a reason. */
long mcc_encode(const struct hm_fingerprint *fp, uint8_t *out, size_t cap,
    char *err, size_t errlen);

/* The matcher's code paths by instruction set, in order.  Every path
 * gives the same results as the scalar one, to the last bit. */
enum hm_isa {
    HM_ISA_SCALAR = 0,
    HM_ISA_AVX2 = 1,        /* AVX2 (x86-64-v3) */
    HM_ISA_AVX512 = 2       /* AVX-512 */
};

/* The path hm_compare()'s local step and relaxation take, for tests and
 * benchmarks of every path: level >= 0 makes it the highest one the CPU
 * has that is at most level; -1 only asks.  Returns the path now in
 * effect.  Until then it is the highest the CPU has, capped by
 * HUELLA_COMPARE_ISA (scalar, avx2). */
int mcc_compare_isa(int level);

/* "scalar", "AVX2" or "AVX-512". */
const char *mcc_isa_name(int level);

#endif /* HUELLA_MCC_H */
