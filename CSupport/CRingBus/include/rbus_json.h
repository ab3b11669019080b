/*
 * rbus_json.h: the byte loop of the JSON codec, sixteen or thirty-two bytes a step.
 *
 * Encoding a string, validating one that arrived from another process and decoding it all ask one
 * question of every byte: is it a quote, a backslash or a control character (it ends the plain run),
 * and is it beyond ASCII (the run then needs UTF-8 validation)? In Swift, eight bytes a step (SWAR),
 * that loop was a quarter of each side's time on 64 KiB events (perf, issue 13); with SSE2 (every
 * x86-64) or AVX2 (chosen at run time) it costs about a cycle per 16 or 32 bytes. Other CPUs get the
 * eight-byte word loop. Pure functions of their arguments: no state, no allocation.
 */
#ifndef RBUS_JSON_H
#define RBUS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The length of the run at the start of bytes[0..<count) holding no '"' (0x22), '\\' (0x5C) or byte
 * below 0x20, and in *non_ascii whether that run holds a byte at or above 0x80. count may be 0 (bytes
 * may then be NULL).
 */
size_t rbus_json_plain_run(const uint8_t *bytes, size_t count, bool *non_ascii);

/* True when every byte of bytes[0..<count) is below 0x80. */
bool rbus_json_is_ascii(const uint8_t *bytes, size_t count);

#endif
