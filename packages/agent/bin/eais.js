#!/usr/bin/env node
// `eais`: a committed entry point, so npm can link the bin before the build writes dist/.
import '../dist/cli.js';
