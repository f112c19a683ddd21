.PHONY: demo test build bench docs
demo:
	scripts/demo.sh
test:
	scripts/test.sh
build:
	scripts/setup.sh && scripts/build.sh
bench:
	scripts/bench.sh
docs:
	scripts/setup.sh && scripts/docs.sh
