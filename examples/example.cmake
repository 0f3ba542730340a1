# SPDX-License-Identifier: MIT
# examples/example.cmake: builds one libbpf example: NAME.bpf.c with clang for
# the BPF target, its skeleton with `bpftool gen skeleton`, and the loader
# linked with the system libbpf.  Included by each example's CMakeLists.txt.
#
# bpftime_example(NAME [CORE] [LOADER src.c...])
# CORE: CO-RE relocations kept (the loader needs the kernel's BTF)
#   -> ${NAME}.bpf.o, ${NAME}.skel.h, executable ${NAME} (the loader)
find_program(BPF_CLANG NAMES clang clang-14)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
pkg_check_modules(LIBBPF IMPORTED_TARGET libbpf)

function(bpftime_example name)
  cmake_parse_arguments(E "CORE" "" "LOADER" ${ARGN})
  if(NOT BPF_CLANG OR NOT BPFTOOL OR NOT LIBBPF_FOUND)
    message(STATUS "example ${name}: skipped (needs clang, bpftool and libbpf)")
    return()
  endif()
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/${name}.bpf.c)
  set(dir ${CMAKE_CURRENT_BINARY_DIR})
  set(core_flag -DBPF_NO_PRESERVE_ACCESS_INDEX)
  if(E_CORE)
    set(core_flag)
  endif()
  # BPF_NO_PRESERVE_ACCESS_INDEX: no CO-RE relocations, so loading needs no
  # kernel BTF (vmlinux.h is committed for machines without it)
  add_custom_command(OUTPUT ${dir}/${name}.bpf.o
    COMMAND ${BPF_CLANG} -target bpf -g -O2 -D__TARGET_ARCH_x86 ${core_flag}
            -I${CMAKE_SOURCE_DIR}/examples/include -c ${src} -o ${dir}/${name}.bpf.o
    DEPENDS ${src} ${CMAKE_SOURCE_DIR}/examples/include/vmlinux.h
    COMMENT "BPF ${name}.bpf.c" VERBATIM)
  add_custom_command(OUTPUT ${dir}/${name}.skel.h
    COMMAND ${BPFTOOL} gen skeleton ${dir}/${name}.bpf.o name ${name}_bpf > ${dir}/${name}.skel.h
    DEPENDS ${dir}/${name}.bpf.o COMMENT "skeleton ${name}.skel.h")
  add_custom_target(${name}_skel DEPENDS ${dir}/${name}.skel.h)
  if(NOT E_LOADER)
    set(E_LOADER ${name}.c)
  endif()
  add_executable(${name} ${E_LOADER})
  add_dependencies(${name} ${name}_skel)
  target_include_directories(${name} PRIVATE ${dir} ${CMAKE_SOURCE_DIR}/examples/include)
  target_link_libraries(${name} PRIVATE PkgConfig::LIBBPF)
endfunction()
