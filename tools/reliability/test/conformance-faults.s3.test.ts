import { describeConformanceUnderFaults } from './support/conformance.js';

describeConformanceUnderFaults('s3');
