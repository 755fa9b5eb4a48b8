# Adds every direct subfolder of the current source folder that has a CMakeLists.txt, so
# components can add tests, fuzz targets and benchmarks without editing a shared list.
function(trellis_add_subdirectories)
  file(GLOB children LIST_DIRECTORIES true ${CMAKE_CURRENT_SOURCE_DIR}/*)
  foreach(child ${children})
    if(IS_DIRECTORY ${child} AND EXISTS ${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
