# CMake toolchain file: cross-compile for armv7 Linux (arm-linux-gnueabihf) with Debian's cross
# gcc (scripts/setup-cross.sh installs it). Use it both to cross-build the
# library package (scripts/cross-build.sh) and to build C hosts against it:
#
#   cmake -S c-examples -B build-c-armv7 \
#         -DCMAKE_TOOLCHAIN_FILE=$PWD/cmake/toolchains/armv7-linux-gnueabihf.cmake \
#         -DCMAKE_PREFIX_PATH=/path/to/cross/prefix
#
# Binaries run on an x86 machine through qemu user mode (set below as the
# crosscompiling emulator, so ctest and add_custom_command use it too).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)

set(WASI_PARALLEL_CROSS_TRIPLE arm-linux-gnueabihf)
# Rust target the library is built for (read by the project's CMakeLists.txt
# when it drives cargo; also the name Corrosion uses).
set(WASI_PARALLEL_RUST_TARGET armv7-unknown-linux-gnueabihf CACHE STRING "Rust target triple")
set(Rust_CARGO_TARGET armv7-unknown-linux-gnueabihf CACHE STRING "Rust target triple")

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)
set(CMAKE_AR arm-linux-gnueabihf-ar CACHE FILEPATH "")
set(CMAKE_STRIP arm-linux-gnueabihf-strip CACHE FILEPATH "")

# Debian's multiarch cross sysroot (libc6-dev-*-cross).
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# BOTH: a cross-built package installed anywhere (CMAKE_PREFIX_PATH) is found.
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

find_program(WASI_PARALLEL_QEMU NAMES qemu-arm qemu-arm-static)
if(WASI_PARALLEL_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${WASI_PARALLEL_QEMU} -L /usr/arm-linux-gnueabihf)
endif()
