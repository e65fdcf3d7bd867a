// datasets/stb_guard.h: checks of PNG and JPEG files before stb_image decodes them, for three
// faults of stb_image 2.27 (Debian 12's libstb) that the image fuzz target found
// (docs/reliability.md, "Fuzzing"). stb is not normlab's code to change, so the input is checked
// before stb sees it.
//  - JPEG: stb does not bound the number of codes in a DHT (define Huffman table) segment. A table
//    whose 16 code counts add up to more than 256 makes stbi__build_huffman write past its
//    257-byte size list and the 256-byte value list: memory corruption from a 300-byte file.
//  - JPEG: a scan may name a Huffman table that no DHT segment defined; stb then decodes with
//    uninitialised memory and fails an assertion (Debian builds libstb with assertions on, so
//    `normlab train` would abort) or indexes out of bounds.
//  - PNG: stb grows its IDAT buffer to the length a chunk header claims before reading the chunk,
//    so a 100-byte file can make it allocate 2 GB.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace normlab {

// Walks the marker segments of a JPEG file as stb_image reads them (fill bytes, resynchronisation,
// segment lengths, DHT tables read past a short segment, entropy-coded data up to the next marker)
// and returns what is wrong with the first Huffman table stb would overflow on or the first scan
// that decodes with a table no DHT defined (stb's tables start uninitialised, so that is a read of
// garbage indices), with its byte offset; or nothing.
std::optional<std::string> jpeg_huffman_problem(std::span<const std::uint8_t> bytes);

// Walks the chunks of a PNG file (after the 8-byte signature) up to IEND, as stb does, and
// returns what is wrong with the first chunk whose length runs past the end of the file, or
// nothing. stb would reject such a file anyway, after the allocation.
std::optional<std::string> png_chunk_problem(std::span<const std::uint8_t> bytes);

}  // namespace normlab
