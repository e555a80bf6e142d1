#!/usr/bin/env node
// `eais-accelerator`: a committed entry point, so npm can link the bin before the build writes dist/.
import '../dist/main.js';
