.PHONY: demo test build
demo:
	scripts/demo.sh
test:
	scripts/test.sh
build:
	scripts/setup.sh && scripts/build.sh
