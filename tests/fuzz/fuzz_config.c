/*
 * fuzz_config.c -- libFuzzer target for the YAML config loader: whatever
 * the file holds, config_load either accepts it or refuses it with a
 * "FILE:LINE: ..." message; it never crashes or leaks.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hd_config  cfg;
    char                     path[64], err[512];
    int                      fd;

    fd = memfd_create("fuzz-config", 0);
    if (fd < 0) {
        return 0;
    }
    if (write(fd, data, size) != (ssize_t) size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    config_defaults(&cfg);
    err[0] = '\0';
    if (config_load(path, &cfg, err, sizeof(err)) != 0 && err[0] == '\0') {
        abort();                  /* a refusal must say why */
    }
    att_rules_free(&cfg.attendance);
    close(fd);
    return 0;
}
