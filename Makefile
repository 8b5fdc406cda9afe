# GNU make reads GNUmakefile first and never this file. It exists for other
# makes (BSD make): it hands every target to GNU make, so there is one list
# of targets, in GNUmakefile.
.DEFAULT:
	@gmake $@

all:
	@gmake
