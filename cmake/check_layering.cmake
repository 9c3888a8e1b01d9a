# Fails when a file includes a header from a layer above its own.
#   core/        may include core/ only (and is the only place allowed to include Eigen)
#   nn/, envs/   may include core/ and themselves
#   rl/          may include core/, nn/, envs/ and itself
#   envs/atari2600/ may include only itself (a standalone emulator, see the end of this file)
# tools/, bench/ and tests/ may include anything, and nothing may include them.
# Usage: cmake -DROOT=<source tree> -P check_layering.cmake
cmake_policy(SET CMP0057 NEW)  # if(... IN_LIST ...)
if(NOT ROOT)
  message(FATAL_ERROR "check_layering: pass -DROOT=<source tree>")
endif()

set(allowed_core "core")
set(allowed_nn "core;nn")
set(allowed_envs "core;envs")
set(allowed_rl "core;nn;envs;rl")
set(project_folders core nn envs rl tools bench tests)

set(violations "")
foreach(layer core nn envs rl)
  file(GLOB_RECURSE files ${ROOT}/${layer}/*.hpp ${ROOT}/${layer}/*.cpp ${ROOT}/${layer}/*.h)
  foreach(file ${files})
    file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include")
    foreach(line ${includes})
      if(line MATCHES "#[ \t]*include[ \t]*[\"<]([a-z_]+)/")
        set(target_folder ${CMAKE_MATCH_1})
        if(target_folder IN_LIST project_folders AND NOT target_folder IN_LIST allowed_${layer})
          file(RELATIVE_PATH rel ${ROOT} ${file})
          list(APPEND violations "${rel}: '${line}' (${layer}/ may include only: ${allowed_${layer}})")
        endif()
      endif()
      if(NOT layer STREQUAL "core" AND line MATCHES "[<\"](Eigen|unsupported/Eigen|immintrin)")
        file(RELATIVE_PATH rel ${ROOT} ${file})
        list(APPEND violations "${rel}: '${line}' (Eigen and intrinsics stay inside core/)")
      endif()
    endforeach()
  endforeach()
endforeach()

# envs/atari2600 is a standalone emulator that could be lifted out as it is: its files may
# include only each other (and the standard library), not core/ or the rest of envs/.
file(GLOB_RECURSE files ${ROOT}/envs/atari2600/*.hpp ${ROOT}/envs/atari2600/*.cpp)
foreach(file ${files})
  file(STRINGS ${file} includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line ${includes})
    if(NOT line MATCHES "#[ \t]*include[ \t]*\"envs/atari2600/")
      file(RELATIVE_PATH rel ${ROOT} ${file})
      list(APPEND violations "${rel}: '${line}' (envs/atari2600/ may include only itself)")
    endif()
  endforeach()
endforeach()

if(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "layering violations:\n  ${text}\n"
                      "Move the code to the right layer or pass the value in from above.")
endif()
message(STATUS "layering: ok")
