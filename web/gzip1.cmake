# Script mode helper of embed.cmake: gzip -9 one file of the current directory into GZ.
file(ARCHIVE_CREATE OUTPUT ${GZ} PATHS ${NAME} FORMAT raw COMPRESSION GZip COMPRESSION_LEVEL 9)
