//! Second round of hostile testing: the admin API and console, and sign-in edge cases.

use crate::helpers::admin_call as call;
use crate::helpers::*;
use crate::on_both_databases;
use crate::provider::TestUser;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod admin_api;
mod console;
mod pages;
