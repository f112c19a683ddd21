.PHONY: demo test build bench
demo:
	scripts/demo.sh
test:
	scripts/test.sh
build:
	scripts/setup.sh && scripts/build.sh
bench:
	scripts/bench.sh
