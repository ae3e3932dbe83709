import { describeConformanceUnderFaults } from './support/conformance.js';

describeConformanceUnderFaults('azure');
